import json

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from components.nodes import EXAMPLE_GEN
from pipeline.metadata.records import record_run, recorded_config
from pipeline.metadata.runs import resolve_run_id, summarize_run
from pipeline.metadata.spans import ingested_spans
from pipeline.metadata.store import (
    NODE_CONTEXT,
    PIPELINE_RUN_CONTEXT,
    connection_config,
    open_store,
)
from pipeline.services import home_lock
from tests.conftest import hold_run_lock


@pytest.fixture
def store(home):
    home.root.mkdir(parents=True)
    return metadata_store.MetadataStore(connection_config(home))


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


def test_no_store_is_a_clear_error(home):
    with pytest.raises(FileNotFoundError, match="no pipeline has run in this home yet"):
        open_store(home)


def test_the_store_is_sqlite_in_the_home_or_the_mysql_server_configured(home, monkeypatch):
    from pipeline.config import PipelineConfig, load_config
    from pipeline.errors import ConfigError

    assert connection_config(home, PipelineConfig()).sqlite.filename_uri == str(home.metadata_db)
    monkeypatch.setenv("MNIST_PIPELINE_MLMD", "mysql://mlmd@127.0.0.1:3307/runs")
    monkeypatch.setenv("MNIST_PIPELINE_MLMD_PASSWORD", "s3cret")
    connection = connection_config(home)  # the environment names it for every command
    assert (connection.mysql.host, connection.mysql.port, connection.mysql.database, connection.mysql.user,
            connection.mysql.password) == ("127.0.0.1", 3307, "runs", "mlmd", "s3cret")
    with pytest.raises(ConfigError, match="must not hold a password"):
        load_config(overrides={"metadata_store": "mysql://mlmd:pw@localhost/runs"}, home=home)
    with pytest.raises(ConfigError, match=r"mysql://USER@HOST:PORT/DATABASE"):
        load_config(overrides={"metadata_store": "postgres://x@y/z"}, home=home)


def test_a_run_s_tasks_execute_the_pipeline_compiled_when_it_started(home, tmp_path):
    """An edit of config.yaml during a run (or before a cleared task runs again) changes nothing
    in it: every task after prepare_data executes the pipeline prepare_data compiled and recorded."""
    import types

    from tfx.proto.orchestration import pipeline_pb2

    from pipeline.config import PipelineConfig, load_config
    from pipeline.orchestration import airflow_dag
    from pipeline.orchestration.runner import compile_pipeline

    home.root.mkdir(parents=True)
    home.config_file.write_text("epochs: 2\n")
    context = {"run_id": "manual__a-run", "dag_run": types.SimpleNamespace(conf={"seed": 7})}
    started = airflow_dag._requested_config(context)
    compiled = compile_pipeline(started, home, tmp_path / "input").SerializeToString()
    record_run(home, context["run_id"], started.to_dict(), compiled)
    home.config_file.write_text("epochs: 5\nbatch_size: 256\n")
    assert load_config(home=home).epochs == 5

    executed = pipeline_pb2.Pipeline.FromString(airflow_dag._run_pipeline(context))
    assert executed == pipeline_pb2.Pipeline.FromString(compiled)
    [trainer] = [n.pipeline_node for n in executed.nodes if n.pipeline_node.node_info.id == "Trainer"]
    trainer_config = json.loads(trainer.parameters.parameters["custom_config"].field_value.string_value)
    assert (trainer_config["epochs"], trainer_config["batch_size"], trainer_config["seed"]) == (2, PipelineConfig().batch_size, 7)
    assert recorded_config(open_store(home), context["run_id"])["epochs"] == 2
    with pytest.raises(RuntimeError, match="recorded no compiled pipeline"):
        airflow_dag._run_pipeline({**context, "run_id": "manual__never-started"})


def test_ingested_spans_are_this_pipeline_s_own(home, store):
    """Examples of another pipeline in the same store (the pipeline before a rename) do not count:
    the renamed pipeline starts from the oldest span, as its spans resolver sees it."""
    from components import features
    from pipeline.config import PipelineConfig

    context_type = store.put_context_type(pb.ContextType(name=NODE_CONTEXT))
    examples_type = store.put_artifact_type(pb.ArtifactType(name="Examples"))
    for pipeline_name, span in (("mnist", 1), ("mnist", 2), ("digits", 1)):
        name = f"{pipeline_name}.{EXAMPLE_GEN}"
        context = store.get_context_by_type_and_name(NODE_CONTEXT, name)
        context_id = context.id if context else store.put_contexts([pb.Context(type_id=context_type, name=name)])[0]
        artifact = pb.Artifact(type_id=examples_type, state=pb.Artifact.LIVE)
        artifact.custom_properties[features.SPAN_PROPERTY].int_value = span
        artifact.custom_properties[features.DATA_SET_PROPERTY].string_value = "set-a"
        [artifact_id] = store.put_artifacts([artifact])
        store.put_attributions_and_associations([pb.Attribution(context_id=context_id, artifact_id=artifact_id)], [])
    assert ingested_spans(home, PipelineConfig(), "set-a") == {1, 2}
    assert ingested_spans(home, PipelineConfig(pipeline_name="digits"), "set-a") == {1}
    assert ingested_spans(home, PipelineConfig(pipeline_name="letters"), "set-a") == set()
    assert ingested_spans(home, PipelineConfig(), "set-b") == set()
