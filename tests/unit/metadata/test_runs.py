"""Finding runs (pipeline/metadata/runs.py): by id, a unique part of one, or position."""
import pytest

from pipeline.metadata.records import record_run
from pipeline.metadata.runs import resolve_run_id


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

