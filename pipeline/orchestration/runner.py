"""Runs one node of the compiled pipeline: what each Airflow task does.

The pipeline is compiled to TFX's intermediate representation (IR) and each node runs through
TFX's portable launcher, the same machinery as TFX's LocalDagRunner and Kubeflow runners: input
resolution from MLMD, caching, and execution and artifact bookkeeping in MLMD. The Airflow run id
is the pipeline run id, so every task of one DAG run records into one MLMD pipeline-run context,
and a task that is cleared and re-run in Airflow picks up its inputs from MLMD.
"""
from __future__ import annotations

import logging

from components.nodes import PUSHER
from pipeline.config import PipelineConfig
from pipeline.definition import topology
from pipeline.definition.pipeline import NODES, create_pipeline
from pipeline.home import Home
from pipeline.metadata.store import PIPELINE_RUN_CONTEXT
from pipeline.orchestration import supervision
from pipeline.orchestration.progress import progress

log = logging.getLogger(__name__)


def compile_pipeline(config: PipelineConfig, home: Home, data_input):
    """The pipeline's IR for `data_input` (see `create_pipeline`); refuses one whose graph is not
    the declared one (the Airflow DAG's)."""
    from tfx.dsl.compiler import compiler


    ir = compiler.Compiler().compile(create_pipeline(config, home, data_input))
    drift = topology.differences(NODES, node_graph(ir))
    if drift:
        raise RuntimeError(f"the compiled pipeline is not wired as pipeline/definition/pipeline.py declares (so the "
                           f"Airflow DAG would run a node before its inputs exist): {'; '.join(drift)}")
    return ir


def node_graph(ir) -> dict[str, list[str]]:
    """Node id -> upstream node ids, for every node of a compiled pipeline, in its order."""
    return {n.pipeline_node.node_info.id: list(n.pipeline_node.upstream_nodes) for n in ir.nodes}


def run_node(ir_bytes: bytes, node_id: str, run_id: str) -> None:
    """Run one node of the run's compiled pipeline (`compile_pipeline`, serialized when the run
    started): no compiling, and nothing imported that the node's launch does not need."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration import metadata
    from tfx.orchestration.local import runner_utils
    from tfx.orchestration.portable import runtime_parameter_utils
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

    from pipeline.orchestration import beam_runner
    from pipeline.storage import staging, tfx_fileio

    tfx_fileio.register()

    ir = pipeline_pb2.Pipeline.FromString(ir_bytes)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    deployment_config = runner_utils.extract_local_deployment_config(ir)
    connection = deployment_config.metadata_connection_config
    connection_config = getattr(connection, connection.WhichOneof("connection_config"))
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    if node_id not in nodes:
        raise KeyError(f"the run's pipeline has no node {node_id!r}; its nodes: {', '.join(nodes)}")

    with progress(node_id, run_id) as outcome:
        _claim(connection_config, run_id, node_id)
        execution = staging.StagingLauncher(
            pipeline_node=nodes[node_id],
            mlmd_connection=metadata.Metadata(connection_config),
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id),
            custom_executor_operators={executable_spec_pb2.BeamExecutableSpec: beam_runner.ExplicitRunnerOperator},
        ).launch()
        state = _state(connection_config, execution.execution_id) if execution and execution.execution_id else None
        if state == "CACHED":
            outcome["state"] = "CACHED"
        elif state == "FAILED":
            # TFX's launcher records a failed input resolution and returns without raising: the
            # task must fail, or Airflow would run what follows on inputs that do not exist.
            raise RuntimeError(f"{node_id} could not resolve its inputs (the log names the input and why)")
        if node_id == PUSHER and state in ("COMPLETE", "CACHED"):
            from pipeline.serving import registry

            registry.record_run_push(Home.from_env(), connection_config, run_id)


def _claim(connection_config, run_id: str, node_id: str) -> None:
    """Record in the run's MLMD context which process runs this step, after refusing to run beside
    an earlier try of it that still runs on this host (TFX's launcher would reuse that try's
    execution and write the same outputs)."""
    from ml_metadata.metadata_store import metadata_store

    store = metadata_store.MetadataStore(connection_config)
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if context is None:  # prepare_data records the run before any node runs
        return
    key = f"task {node_id}"
    holder = context.custom_properties[key].string_value if key in context.custom_properties else ""
    if holder and supervision.tag_alive(holder):
        raise RuntimeError(f"an earlier try of {node_id} in run {run_id} still runs (process {holder.split()[1]} "
                           "on this host): this try stops, so that the step never runs twice at once")
    context.custom_properties[key].string_value = supervision.process_tag()
    store.put_contexts([context])


def _state(connection_config, execution_id: int) -> str:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    store = metadata_store.MetadataStore(connection_config)
    [execution] = store.get_executions_by_id([execution_id])
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)

