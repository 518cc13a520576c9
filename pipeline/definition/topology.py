"""How the pipeline's nodes are declared, so that one declaration builds both graphs.

Each node of the TFX pipeline is a builder function in `pipeline/definition/pipeline.py`, registered with
`Graph.node`: its node id, and where each of its inputs comes from ("Node.output_key"). TFX
builds the pipeline from the builders (`Graph.build`); the Airflow DAG takes its tasks and edges
from the same declaration (`Graph.upstream`) without calling a builder, so the DAG file loads
without TensorFlow or TFX (Airflow re-parses it every 30 s and gives up after 30 s).

The compiled pipeline can still depend on more than the declaration says (a builder could wire a
channel it was not given): `differences` names any such drift, and `prepare_data` refuses to
start a run on a pipeline that has it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Node:
    id: str
    build: Callable[..., Any]
    # Builder keyword -> "UpstreamNode.output_key": the channel passed in under that keyword.
    inputs: Mapping[str, str]
    # Nodes this one waits for without reading their outputs.
    after: tuple[str, ...] = ()

    @property
    def upstream(self) -> tuple[str, ...]:
        found = [source.split(".", 1)[0] for source in self.inputs.values()] + list(self.after)
        return tuple(dict.fromkeys(found))


class Graph:
    """The pipeline's nodes, in the order they are declared (an order they can run in)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def node(self, node_id: str, *, after: Sequence[str] = (), **inputs: str):
        """Register the decorated function as the builder of `node_id`. It is called with the
        run's context (`build`'s keywords) and, under each keyword of `inputs`, the channel
        "Node.output_key" it names; it returns the TFX component."""
        def register(build: Callable[..., Any]) -> Callable[..., Any]:
            if node_id in self.nodes:
                raise ValueError(f"node {node_id!r} is declared twice")
            for source in [*inputs.values(), *after]:
                upstream = source.split(".", 1)[0]
                if upstream not in self.nodes:
                    raise ValueError(f"node {node_id!r} takes {source!r}, but {upstream!r} is not "
                                     f"declared before it")
            self.nodes[node_id] = Node(node_id, build, dict(inputs), tuple(after))
            return build
        return register

    def upstream(self) -> dict[str, tuple[str, ...]]:
        """Node id -> the node ids it runs after, in declaration order."""
        return {node.id: node.upstream for node in self.nodes.values()}

    def build(self, **context: Any) -> list[Any]:
        """Every node's component, each built with `context` and its inputs' channels."""
        built: dict[str, Any] = {}
        for node in self.nodes.values():
            channels = {}
            for keyword, source in node.inputs.items():
                upstream, output = source.split(".", 1)
                channels[keyword] = built[upstream].outputs[output]
            component = node.build(**context, **channels)
            if component.id != node.id:
                component = component.with_id(node.id)
            for upstream in node.after:
                component.add_upstream_node(built[upstream])
            built[node.id] = component
        return list(built.values())


def differences(declared: Mapping[str, Sequence[str]], compiled: Mapping[str, Sequence[str]]) -> list[str]:
    """How a compiled graph (node id -> upstream ids) differs from the declared one; empty if not."""
    problems = []
    for node in declared.keys() - compiled.keys():
        problems.append(f"{node} is declared but not in the compiled pipeline")
    for node in compiled.keys() - declared.keys():
        problems.append(f"{node} is in the compiled pipeline but not declared")
    for node in declared.keys() & compiled.keys():
        expected, actual = set(declared[node]), set(compiled[node])
        if expected != actual:
            problems.append(f"{node} runs after {sorted(actual)} in the compiled pipeline, "
                            f"declared after {sorted(expected)}")
    return sorted(problems)
