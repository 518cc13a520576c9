"""How nodes are declared (pipeline/definition/topology.py): one declaration per node gives both
the TFX pipeline's wiring and the Airflow DAG's edges, and a compiled pipeline that drifts from
the declarations is named and refused before a run."""
import pytest

from pipeline.config import PipelineConfig
from pipeline.definition import pipeline as pipeline_lib
from pipeline.definition import topology
from pipeline.definition.pipeline import NODES
from pipeline.orchestration import runner
from pipeline.orchestration.runner import compile_pipeline, node_graph


def declare(monkeypatch, nodes: dict) -> None:
    """`nodes` as the declared graph, wherever it is read: the definition and the runner's check."""
    monkeypatch.setattr(pipeline_lib, "NODES", nodes)
    monkeypatch.setattr(runner, "NODES", nodes, raising=False)


def ancestors(node: str) -> set[str]:
    found, todo = set(), list(NODES[node])
    while todo:
        up = todo.pop()
        if up not in found:
            found.add(up)
            todo.extend(NODES[up])
    return found


@pytest.mark.parametrize("first, second", [("ImportExampleGen", "ImportSchemaGen"),
                                           ("SchemaGen", "ExampleValidator"),
                                           ("SchemaGen", "Transform"), ("SchemaGen", "Trainer")])
def test_independent_nodes_can_run_side_by_side(first, second):
    assert first not in ancestors(second) and second not in ancestors(first)


def test_the_declared_graph_is_the_compiled_pipeline(home, tmp_path):
    compiled = node_graph(compile_pipeline(PipelineConfig(), home, tmp_path / "input"))
    assert topology.differences(NODES, compiled) == []
    assert list(compiled) == list(NODES)


def test_adding_a_node_is_one_declaration(home, tmp_path, monkeypatch):
    """A node declared with `GRAPH.node` is in the compiled pipeline and in the DAG, wired as declared."""
    graph = topology.Graph()
    graph.nodes.update(pipeline_lib.GRAPH.nodes)

    @graph.node("EvalStatisticsGen", examples="ImportExampleGen.examples")
    def _more_statistics(examples, **_):
        from tfx.components import StatisticsGen

        return StatisticsGen(examples=examples)

    monkeypatch.setattr(pipeline_lib, "GRAPH", graph)
    declare(monkeypatch, graph.upstream())
    compiled = node_graph(compile_pipeline(PipelineConfig(), home, tmp_path / "input"))
    assert compiled["EvalStatisticsGen"] == ["ImportExampleGen"]
    assert topology.differences(graph.upstream(), compiled) == []


def test_a_drifted_graph_is_named_and_refused(home, tmp_path, monkeypatch):
    compiled = {**NODES, "Pusher": ("Trainer",), "InfraValidator": ("Trainer",)}
    del compiled["SchemaGen"]
    assert topology.differences(NODES, compiled) == [
        "InfraValidator is in the compiled pipeline but not declared",
        "Pusher runs after ['Trainer'] in the compiled pipeline, declared after ['Evaluator', 'Trainer']",
        "SchemaGen is declared but not in the compiled pipeline",
    ]
    # A pipeline that is not wired as declared (the DAG's edges) is not compiled for a run.
    declare(monkeypatch, {**NODES, "Trainer": ("Transform",)})
    drifted = r"Trainer runs after \['ImportSchemaGen', 'Transform', 'Tuner', 'latest_spans_resolver'\]"
    with pytest.raises(RuntimeError, match=drifted):
        compile_pipeline(PipelineConfig(), home, tmp_path / "input")


def test_declarations_name_only_nodes_declared_before():
    graph = topology.Graph()
    graph.node("A")(lambda **_: None)
    with pytest.raises(ValueError, match="'B' is not declared before it"):
        graph.node("C", examples="B.examples")(lambda **_: None)
    with pytest.raises(ValueError, match="declared twice"):
        graph.node("A")(lambda **_: None)
    graph.node("B", after=["A"], x="A.out", y="A.other")(lambda **_: None)
    assert graph.upstream() == {"A": (), "B": ("A",)}
