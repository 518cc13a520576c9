"""What a run records in ML Metadata (pipeline/metadata/records.py): its config and commit, and
the executions of runs whose process is gone, closed."""
import json

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.metadata.records import mark_interrupted, record_run
from pipeline.metadata.runs import summarize_run
from pipeline.metadata.store import PIPELINE_RUN_CONTEXT
from pipeline.services import home_lock
from tests.support.locks import hold_run_lock


def _execution_in_run(store, run_id, state, component="Trainer"):
    [context] = [c for c in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT) if c.name == run_id]
    type_id = store.put_execution_type(pb.ExecutionType(name=f"tfx.components.{component}"))
    [execution_id] = store.put_executions([pb.Execution(type_id=type_id, last_known_state=state)])
    store.put_attributions_and_associations([], [pb.Association(context_id=context.id, execution_id=execution_id)])
    return execution_id


def test_a_run_records_its_config_and_commit(home, store):
    record_run(home, "manual__1", {"epochs": 2})
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, "manual__1")
    assert json.loads(context.custom_properties["config"].string_value) == {"epochs": 2}
    commit = context.custom_properties["git_commit"].string_value
    assert len(commit.split("+")[0]) == 40 or commit.startswith("unknown")
    summary = summarize_run(home, "manual__1")
    assert summary.config == {"epochs": 2} and summary.state == "NOT STARTED"


def test_executions_of_a_live_run_are_left_alone_and_closed_once_its_process_is_gone(home, store):
    record_run(home, "manual__1", {})
    running = _execution_in_run(store, "manual__1", pb.Execution.RUNNING)
    done = _execution_in_run(store, "manual__1", pb.Execution.COMPLETE, "Transform")
    holder = hold_run_lock(home)
    try:
        with pytest.raises(home_lock.RunInProgress, match=f"run manual__1, started .* by process {holder.pid}"):
            home_lock.HomeLock(home).acquire()
        record_run(home, "manual__2", {})  # e.g. a scheduler run while the live one trains
        [still] = store.get_executions_by_id([running])
        assert still.last_known_state == pb.Execution.RUNNING
    finally:
        holder.kill()
        holder.wait()
    assert home_lock.holder(home) is None  # the kernel released the lock with the process
    record_run(home, "manual__3", {})
    states = {e.id: e.last_known_state for e in store.get_executions_by_id([running, done])}
    assert states == {running: pb.Execution.FAILED, done: pb.Execution.COMPLETE}
    [closed] = store.get_executions_by_id([running])
    assert "manual__3" in closed.custom_properties["orphaned"].string_value
    # When the dead run stopped is not known: its step's time is not the time until manual__3 began.
    [step] = [c for c in summarize_run(home, "manual__1").components.values() if c.execution_id == running]
    assert step.orphaned and step.finished_ms == step.started_ms
    assert summarize_run(home, "manual__1").to_json()["components"][step.node_id]["seconds"] is None


def test_orphans_of_another_home_sharing_the_store_are_left_alone(home, store, tmp_path):
    record_run(home, "manual__elsewhere", {})
    [context] = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    # As a run of another home records itself in a shared (MySQL) store.
    context.custom_properties["home"].string_value = str(tmp_path / "other-home")
    store.put_contexts([context])
    running = _execution_in_run(store, "manual__elsewhere", pb.Execution.RUNNING)
    record_run(home, "manual__here", {})
    [still] = store.get_executions_by_id([running])
    assert still.last_known_state == pb.Execution.RUNNING


def test_a_run_closed_after_a_crash_reads_interrupted_with_no_step_time(home, store):
    record_run(home, "manual__1", {})
    running = _execution_in_run(store, "manual__1", pb.Execution.RUNNING)
    failed_before = _execution_in_run(store, "manual__1", pb.Execution.FAILED, "Transform")
    assert len(mark_interrupted(home, "manual__1", "the loss of Airflow's processes", since_ms=2**62,
                                end_unknown=True)) == 1
    [closed, kept] = store.get_executions_by_id([running, failed_before])
    assert closed.last_known_state == pb.Execution.CANCELED and kept.last_known_state == pb.Execution.FAILED
    assert closed.custom_properties["interrupted"].string_value == "stopped by the loss of Airflow's processes"
    summary = summarize_run(home, "manual__1")
    assert summary.state == "INTERRUPTED"
    [step] = [c for c in summary.components.values() if c.execution_id == running]
    assert step.orphaned  # when it stopped is not known: no step time
    assert summary.to_json()["components"][step.node_id]["seconds"] is None
