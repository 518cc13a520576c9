"""Which spans the Trainer learns from: the latest `train_spans` good spans, ending with this run's.

A run ingests one span (ImportExampleGen, `{SPAN}` pattern); the spans ingested before come back
from MLMD. Like TFX's SpanRangeStrategy with a rolling range, this resolver keeps the latest spans,
but anchored on the span this run ingested (its ImportExampleGen's output, cached or not), so
that a re-run of an older data set, or a newer span of another data set, never slips in; and
only spans whose data gate passed: a span that failed the gate is never trained on. Among
several artifacts of one span (ingested again after its files changed), the latest counts.
"""
from __future__ import annotations

from collections.abc import Callable

from tfx import types
from tfx.dsl.components.common import resolver

from components import features, nodes

EXAMPLES_KEY = "examples"  # in: every Examples of the ImportExampleGen node; out: the chosen spans
CURRENT_KEY = "current"  # this run's ImportExampleGen output; passed through
NODE_CONTEXT = "node"
GOOD_STATES = ("COMPLETE", "CACHED")


def span_of(artifact: types.Artifact) -> int:
    return artifact.get_int_custom_property(features.SPAN_PROPERTY)


def data_set_of(artifact: types.Artifact) -> str:
    return artifact.get_string_custom_property(features.DATA_SET_PROPERTY)


def passed(store, artifact_id: int, gate_node: str) -> bool:
    """Whether an execution of the node `gate_node` took this artifact as input and succeeded."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    users = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == pb.Event.INPUT]
    for execution in store.get_executions_by_id(users):
        if pb.Execution.State.Name(execution.last_known_state) not in GOOD_STATES:
            continue
        if any(c.name.endswith("." + gate_node) for c in store.get_contexts_by_execution(execution.id)):
            return True
    return False


def select(anchor: types.Artifact, candidates: list[types.Artifact], train_spans: int,
           passed_gate: Callable[[int], bool]) -> list[types.Artifact]:
    """The spans to train on, oldest first: of the anchor's data set, spans before the anchor's
    whose gate passed (`passed_gate(artifact id)`), the latest artifact of each, the latest
    `train_spans - 1` of them (all with 0), then the anchor."""
    latest: dict[int, types.Artifact] = {}
    for artifact in sorted(candidates, key=lambda a: a.id, reverse=True):  # the latest of a span first
        span = span_of(artifact)
        if (artifact.id == anchor.id or span >= span_of(anchor) or span in latest
                or data_set_of(artifact) != data_set_of(anchor)):
            continue
        if passed_gate(artifact.id):
            latest[span] = artifact
    older = sorted(latest)
    keep = older[len(older) - (train_spans - 1):] if train_spans else older
    return [latest[s] for s in keep] + [anchor]


class LatestSpansStrategy(resolver.ResolverStrategy):
    """The `train_spans` latest spans (0: all) of the current span's data set that passed the
    gate node, up to and including the current span, oldest first (`select`)."""

    def __init__(self, train_spans: int = 0, gate_node: str = nodes.DATA_GATE):
        self._train_spans = train_spans
        self._gate_node = gate_node

    def resolve_artifacts(self, store, input_dict: dict[str, list[types.Artifact]]
                          ) -> dict[str, list[types.Artifact]] | None:
        current = list(input_dict.get(CURRENT_KEY, []))
        if len(current) != 1:
            return None
        chosen = select(current[0], list(input_dict.get(EXAMPLES_KEY, [])), self._train_spans,
                        lambda artifact_id: passed(store, artifact_id, self._gate_node))
        return {EXAMPLES_KEY: chosen, CURRENT_KEY: current}
