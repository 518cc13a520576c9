"""The DAG file loads fast and light, and the graph it is built from is the pipeline's real one.

Airflow re-parses the DAG file every 30 s and times an import out at 30 s; parsing must not
import TensorFlow or TFX (which alone cost about 16 s and 1.1 GB).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.definition import pipeline as pipeline_lib
from pipeline.definition import topology
from pipeline.definition.pipeline import NODES
from pipeline.home import Home
from pipeline.orchestration.airflow_dag import DAG_ID, PREPARE_TASK, REPORT_TASK
from pipeline.orchestration.runner import compile_pipeline, node_graph
from pipeline.services import environment

AIRFLOW = str(Path(sys.executable).parent / "airflow")

# What the scheduler's DAG file processor does: a DagBag of the configured DAGs folder.
PARSE = """
import json, resource, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
seconds = time.perf_counter() - started
dag = bag.dags.get(sys.argv[2])
tasks = {t.task_id: {"upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                     "teardown": t.is_teardown} for t in dag.tasks} if dag else {}
with open(sys.argv[1], "w") as out:
    json.dump({"import_errors": bag.import_errors, "dags": sorted(bag.dag_ids), "tasks": tasks,
               "max_active_runs": dag.max_active_runs if dag else None,
               "in_process_seconds": seconds,
               # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
               "peak_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 1024,
               "heavy_modules": sorted({"tensorflow", "tfx", "tensorflow_model_analysis"} & set(sys.modules))}, out)
"""


def airflow_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {**environment.airflow_environment(Home(tmp_path / "home")), **settings}


def parse_in_fresh_process(tmp_path: Path, env: dict[str, str]) -> dict:
    result_file = tmp_path / "parsed.json"
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", PARSE, str(result_file), DAG_ID], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    wall = time.perf_counter() - started
    assert process.returncode == 0, process.stdout
    return {**json.loads(result_file.read_text()), "wall_seconds": wall}


def test_the_dag_file_parses_fast_without_tensorflow_or_tfx(tmp_path):
    parsed = parse_in_fresh_process(tmp_path, airflow_env(tmp_path))
    print(f"DAG parse in a fresh process: {parsed['wall_seconds']:.2f} s wall "
          f"({parsed['in_process_seconds']:.2f} s from importing Airflow to the filled DagBag), "
          f"peak RSS {parsed['peak_mb']:.0f} MB")
    assert parsed["import_errors"] == {}
    assert parsed["dags"] == [DAG_ID]
    assert parsed["heavy_modules"] == []
    # Its speed is the benchmark's (`bench/run.py --only dag-parse`), not a timed test's.
    assert parsed["peak_mb"] < 300

    tasks = parsed["tasks"]
    assert set(tasks) == {PREPARE_TASK, REPORT_TASK, *NODES}
    assert tasks[PREPARE_TASK]["upstream"] == []
    for node, upstream in NODES.items():
        assert tasks[node]["upstream"] == sorted(upstream or [PREPARE_TASK])
    assert tasks[REPORT_TASK]["teardown"]
    assert tasks[REPORT_TASK]["upstream"] == sorted([PREPARE_TASK, *NODES])
    assert parsed["max_active_runs"] == 1
    # Airflow's own default: no retries unless [core] default_task_retries says otherwise.
    assert {t["retries"] for t in tasks.values()} == {0}


def test_retries_come_from_airflows_setting(tmp_path):
    parsed = parse_in_fresh_process(tmp_path, airflow_env(tmp_path, AIRFLOW__CORE__DEFAULT_TASK_RETRIES="3"))
    assert parsed["import_errors"] == {}
    assert {t["retries"] for t in parsed["tasks"].values()} == {3}


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


def test_airflow_3_parses_the_dag_with_no_import_errors(tmp_path):
    env = airflow_env(tmp_path)

    def airflow(*args: str) -> str:
        result = subprocess.run([AIRFLOW, *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert airflow("version").strip().startswith("3.")
    airflow("db", "migrate")
    # --local: parse the DAG folder now, as the DAG processor does (not what the database holds).
    # Airflow logs its setup to stdout before the table: the JSON is the last line.
    assert json.loads(airflow("dags", "list-import-errors", "--local", "--output", "json").splitlines()[-1]) == []
    listed = json.loads(airflow("dags", "list", "--local", "--output", "json").splitlines()[-1])
    assert [dag["dag_id"] for dag in listed] == [DAG_ID]


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
    monkeypatch.setattr(pipeline_lib, "NODES", graph.upstream())
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
    monkeypatch.setattr(pipeline_lib, "NODES", {**NODES, "Trainer": ("Transform",)})
    with pytest.raises(RuntimeError, match=r"Trainer runs after \['ImportSchemaGen', 'Transform', 'Tuner', 'latest_spans_resolver'\]"):
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


def test_no_airflow_2_idioms_are_left():
    """ruff's Airflow 3 rules (AIR3: removed and moved imports, arguments and settings) over
    everything that touches Airflow."""
    ruff = Path(sys.executable).parent / "ruff"
    folders = [str(Path(__file__).parents[1] / name) for name in ("dags", "pipeline", "components", "tests")]
    result = subprocess.run([str(ruff), "check", "--preview", "--select", "AIR3", "--no-cache", *folders],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_airflow_main_keeps_airflow_s_output_and_exit_code(tmp_path):
    """`pipeline.orchestration.airflow_main` (how `run` starts `airflow dags test`) leaves through os._exit: what
    Airflow printed still arrives, and a failure still exits non-zero."""
    env = airflow_env(tmp_path)

    def airflow_main(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline.orchestration.airflow_main", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    version = airflow_main("version")
    assert version.returncode == 0 and version.stdout.strip().splitlines()[-1].startswith("3.")
    unknown = airflow_main("no-such-command")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
