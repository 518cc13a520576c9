"""The read side of the ML Metadata store: what a run did, from the records TFX left."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from pipeline.config import Home

PIPELINE_RUN_CONTEXT = "pipeline_run"  # tfx.dsl.compiler.constants.PIPELINE_RUN_CONTEXT_TYPE_NAME
NODE_CONTEXT = "node"
ACCURACY = "sparse_categorical_accuracy"


def connection_config(home: Home):
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(home.metadata_db)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def open_store(home: Home):
    from ml_metadata.metadata_store import metadata_store

    if not home.metadata_db.exists():
        raise FileNotFoundError(f"no metadata store at {home.metadata_db}: no pipeline has run in this home yet")
    return metadata_store.MetadataStore(connection_config(home))


@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    execution_id: int
    outputs: dict[str, list]  # output key -> MLMD artifacts


@dataclasses.dataclass
class RunSummary:
    run_id: str
    components: dict[str, ComponentRun]
    accuracy: Optional[float] = None
    accuracy_per_digit: dict[str, float] = dataclasses.field(default_factory=dict)
    blessed: Optional[bool] = None
    gate_failures: list[str] = dataclasses.field(default_factory=list)  # why it was not blessed
    pushed: Optional[bool] = None
    pushed_path: Optional[str] = None


def component_runs(store, run_id: str) -> dict[str, ComponentRun]:
    """Each node's execution in the pipeline run `run_id`, keyed by node id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    run_context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run_context is None:
        raise LookupError(f"the metadata store knows no pipeline run {run_id!r}")
    node_of_execution = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        node_id = context.name.split(".", 1)[-1]
        for execution in store.get_executions_by_context(context.id):
            node_of_execution[execution.id] = node_id

    runs = {}
    executions = sorted(store.get_executions_by_context(run_context.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({ev.artifact_id for ev in events}))}
    for execution in executions:
        outputs: dict[str, list] = {}
        for event in events:
            if event.execution_id == execution.id and event.type == pb.Event.OUTPUT:
                key = event.path.steps[0].key if event.path.steps else ""
                outputs.setdefault(key, []).append(artifacts[event.artifact_id])
        node_id = node_of_execution.get(execution.id, str(execution.type_id))
        runs[node_id] = ComponentRun(node_id, pb.Execution.State.Name(execution.last_known_state),
                                     execution.id, outputs)
    return runs


def latest_run_id(store) -> str:
    runs = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    if not runs:
        raise LookupError("the metadata store holds no pipeline run yet")
    return max(runs, key=lambda c: c.create_time_since_epoch or c.id).name


def _read_accuracy(evaluation_uri: str) -> tuple[Optional[float], dict[str, float]]:
    import tensorflow_model_analysis as tfma

    overall, per_digit = None, {}
    for metrics in tfma.load_metrics(evaluation_uri):
        key = metrics.slice_key
        for item in metrics.metric_keys_and_values:
            if item.key.name != ACCURACY or item.key.HasField("sub_key") or item.key.is_diff:
                continue
            value = item.value.double_value.value
            if not key.single_slice_keys:
                overall = value
            else:
                digit = key.single_slice_keys[0]
                per_digit[str(digit.int64_value if digit.HasField("int64_value") else digit.bytes_value)] = value
    return overall, dict(sorted(per_digit.items()))


def _slice_name(slice_key) -> str:
    if not slice_key.single_slice_keys:
        return "overall"
    return ", ".join(f"digit {k.int64_value}" if k.column == "label" else f"{k.column} {k.int64_value}"
                     for k in slice_key.single_slice_keys)


def read_gate_failures(evaluation_uri: str) -> list[str]:
    """The model-validation thresholds that failed, in words."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation_uri)
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if failure.metric_key.is_diff:
                allowed = -threshold.change_threshold.absolute.value
                lines.append(f"{where}: accuracy {value:+.4f} against the baseline "
                             f"(allowed drop {max(allowed, 0):.4f})")
            else:
                lines.append(f"{where}: accuracy {value:.4f} below the minimum "
                             f"{threshold.value_threshold.lower_bound.value:.4f}")
    return lines


def summarize_run(home: Home, run_id: str) -> RunSummary:
    store = open_store(home)
    runs = component_runs(store, run_id)
    summary = RunSummary(run_id, runs)
    evaluator = runs.get("Evaluator")
    if evaluator:
        for artifact in evaluator.outputs.get("blessing", []):
            summary.blessed = bool(artifact.custom_properties["blessed"].int_value) \
                if "blessed" in artifact.custom_properties else None
        for artifact in evaluator.outputs.get("evaluation", []):
            if Path(artifact.uri).exists():
                summary.accuracy, summary.accuracy_per_digit = _read_accuracy(artifact.uri)
                summary.gate_failures = read_gate_failures(artifact.uri)
    pusher = runs.get("Pusher")
    if pusher:
        for artifact in pusher.outputs.get("pushed_model", []):
            props = artifact.custom_properties
            summary.pushed = bool(props["pushed"].int_value) if "pushed" in props else False
            if summary.pushed and "pushed_destination" in props:
                summary.pushed_path = props["pushed_destination"].string_value
    return summary
