"""Finding runs (pipeline/metadata/runs.py): by id, a unique part of one, or position."""
import pytest

from components import nodes
from pipeline.metadata.records import record_run
from pipeline.metadata.runs import ComponentRun, RunSummary, resolve_run_id


def test_runs_are_found_by_id_part_or_position(home, store):
    for run_id in ("manual__2026-01-01T10", "manual__2026-01-02T10", "manual__2026-01-02T11"):
        record_run(home, run_id, {})
    assert resolve_run_id(store, None) == "manual__2026-01-02T11"
    assert resolve_run_id(store, "-3") == "manual__2026-01-01T10"
    assert resolve_run_id(store, "01-01T10") == "manual__2026-01-01T10"
    with pytest.raises(LookupError, match="ambiguous: 2 runs match"):
        resolve_run_id(store, "manual__2026-01-02")
    with pytest.raises(LookupError, match="no pipeline run 'x'"):
        resolve_run_id(store, "x")



def _summary(*recorded: str) -> RunSummary:
    return RunSummary("manual__1", {node: ComponentRun(node, "COMPLETE", i, 0, 0, {}, {})
                                    for i, node in enumerate(recorded)})


def test_a_run_whose_last_step_never_ran_is_not_complete():
    # A host's crash during the Trainer: the orphaned Trainer finished and recorded COMPLETE,
    # nothing after it ran.
    crashed = _summary(*nodes.ALL[:nodes.ALL.index(nodes.TRAINER) + 1])
    assert crashed.state == "INCOMPLETE" and crashed.stopped_after == nodes.TRAINER
    assert crashed.to_json()["state"] == "INCOMPLETE" and crashed.to_json()["stopped_after"] == nodes.TRAINER
    finished = _summary(*nodes.ALL)
    assert finished.state == "COMPLETE" and finished.stopped_after is None
    assert _summary().state == "NOT STARTED"
