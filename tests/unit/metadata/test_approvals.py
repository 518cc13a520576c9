"""A person's decision on a blessed model, kept on the run's context in ML Metadata
(pipeline/metadata/approvals.py), and said in words for `show`, `runs` and the report."""
import pytest

from pipeline.config import PipelineConfig
from pipeline.metadata import approvals
from pipeline.metadata.records import record_run, recorded_config


def test_a_decision_is_kept_on_its_run_and_read_back(home, store):
    record_run(home, "manual__1", {"epochs": 1})
    record_run(home, "manual__2", {"epochs": 1})
    decision = {"decision": approvals.APPROVED, "by": "alice", "at": "2026-12-04T02:00:00+00:00",
                "comment": "digit 8 checked"}
    approvals.record_decision(home, PipelineConfig(), "manual__1", decision)

    assert approvals.decision_of(store, "manual__1") == decision
    assert approvals.decision_of(store, "manual__2") is None
    assert approvals.decisions(store) == {"manual__1": decision}
    # The run's other records stay as they were.
    assert recorded_config(store, "manual__1") == {"epochs": 1}
    assert approvals.describe(decision) == 'approved by alice at 2026-12-04T02:00:00+00:00: "digit 8 checked"'


def test_a_timeout_reads_as_a_rejection_and_nothing_decided_reads_as_nothing():
    timed_out = {"decision": approvals.TIMED_OUT, "by": None, "at": "2026-12-04T02:00:00+00:00", "comment": "",
                 "timeout_minutes": 0.5}
    assert approvals.describe(timed_out) == "rejected: nobody answered within 0.5 min (at 2026-12-04T02:00:00+00:00)"
    assert approvals.describe({"decision": approvals.REJECTED, "by": "bob", "at": "t", "comment": ""}) == \
        "rejected by bob at t"
    assert approvals.describe(None) == ""


def test_a_decision_for_a_run_never_recorded_is_refused(home, store):
    with pytest.raises(LookupError, match="manual__none is not recorded"):
        approvals.record_decision(home, PipelineConfig(), "manual__none", {"decision": approvals.APPROVED})
