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


def _blessing_of(store, run_id):
    """An Evaluator execution in the run whose output is a ModelBlessing, as TFX records it."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.metadata.store import PIPELINE_RUN_CONTEXT

    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    blessing_type = store.put_artifact_type(pb.ArtifactType(name="ModelBlessing"))
    evaluator_type = store.put_execution_type(pb.ExecutionType(name="tfx.components.Evaluator"))
    [blessing] = store.put_artifacts([pb.Artifact(type_id=blessing_type, uri="/b")])
    [evaluator] = store.put_executions([pb.Execution(type_id=evaluator_type)])
    store.put_events([pb.Event(artifact_id=blessing, execution_id=evaluator, type=pb.Event.OUTPUT)])
    store.put_attributions_and_associations([], [pb.Association(context_id=context.id, execution_id=evaluator)])
    return blessing


@pytest.mark.parametrize("what", [approvals.REJECTED, approvals.TIMED_OUT, approvals.APPROVED])
def test_a_refused_model_s_blessing_is_marked_so_it_is_no_baseline(home, store, what):
    from components.nodes import REFUSED_PROPERTY

    record_run(home, "manual__1", {})
    blessing = _blessing_of(store, "manual__1")
    approvals.record_decision(home, PipelineConfig(), "manual__1",
                              {"decision": what, "by": "bob", "at": "2026-12-04T02:00:00+00:00", "comment": ""})
    [after] = store.get_artifacts_by_id([blessing])
    marked = after.custom_properties[REFUSED_PROPERTY].string_value if REFUSED_PROPERTY in after.custom_properties \
        else None
    assert marked == (None if what == approvals.APPROVED else what)
