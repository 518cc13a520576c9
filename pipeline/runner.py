"""Runs one node of the compiled pipeline: what each Airflow task does.

The pipeline is compiled to TFX's intermediate representation (IR) and each node runs through
TFX's portable launcher, the same machinery as TFX's LocalDagRunner and Kubeflow runners: input
resolution from MLMD, caching, and execution and artifact bookkeeping in MLMD. The Airflow run id
is the pipeline run id, so every task of one DAG run records into one MLMD pipeline-run context,
and a task that is cleared and re-run in Airflow picks up its inputs from MLMD.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any, Iterator

from pipeline import topology
from pipeline.config import Home, PipelineConfig

log = logging.getLogger(__name__)

# Lines that start with this are progress events for `mnist-pipeline run` to show.
PROGRESS_MARKER = "mnist-pipeline-progress:"


def _emit(event: str, **fields: Any) -> None:
    """One progress event on stdout, for `mnist-pipeline run` (pipeline/commands/run.py) to show."""
    print(PROGRESS_MARKER, json.dumps({"event": event, **fields}), flush=True)


def _process_age() -> dict[str, float]:
    """Seconds since this process started, from the kernel's own clock since boot (psutil's
    create_time adds the boot time, which /proc/stat rounds to the second: up to 1 s off)."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as uptime:
            age = float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):  # not Linux
        return {}
    return {"process_seconds": round(age, 2)}


@contextlib.contextmanager
def progress(node: str, run_id: str) -> Iterator[dict]:
    """Emit a task's start, and its end: finished (with the state set in the yielded dict)
    or failed (with the error). The start says how long the task's process took to get here
    (its fixed cost) and its pid, the end the process's memory: `make bench` collects them."""
    _emit("started", node=node, run_id=run_id, pid=os.getpid(), **_process_age())
    started = time.monotonic()
    outcome = {"state": "COMPLETE"}
    try:
        yield outcome
    except BaseException as err:
        _emit("failed", node=node, run_id=run_id, seconds=round(time.monotonic() - started, 1),
               error=f"{type(err).__name__}: {err}", **_memory())
        raise
    _emit("finished", node=node, run_id=run_id, seconds=round(time.monotonic() - started, 1), **outcome,
           **_memory())


def _memory() -> dict[str, float]:
    """This process's peak resident memory (VmHWM: in a forked task process it starts from what
    it shares with its parent) and its private memory now (what it alone holds), in MB."""
    try:
        with open("/proc/self/status") as status:
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open("/proc/self/smaps_rollup") as rollup:
            private_kb = sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:",
                                                                                         "Private_Dirty:")))
    except (OSError, StopIteration, ValueError):  # not Linux, or a kernel without these files
        return {}
    return {"peak_rss_mb": round(peak_kb / 1024), "private_mb": round(private_kb / 1024)}


def compile_pipeline(config: PipelineConfig, home: Home, data_input):
    """The pipeline's IR for `data_input` (see `create_pipeline`); refuses one whose graph is not
    the declared one (the Airflow DAG's)."""
    from tfx.dsl.compiler import compiler

    from pipeline.pipeline import NODES, create_pipeline

    ir = compiler.Compiler().compile(create_pipeline(config, home, data_input))
    drift = topology.differences(NODES, node_graph(ir))
    if drift:
        raise RuntimeError(f"the compiled pipeline is not wired as pipeline/pipeline.py declares (so the "
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
    from tfx.orchestration.portable import launcher, runtime_parameter_utils
    from tfx.proto.orchestration import pipeline_pb2

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
        execution = launcher.Launcher(
            pipeline_node=nodes[node_id],
            mlmd_connection=metadata.Metadata(connection_config),
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id),
        ).launch()
        state = _state(connection_config, execution.execution_id) if execution and execution.execution_id else None
        if state == "CACHED":
            outcome["state"] = "CACHED"
        elif state == "FAILED":
            # TFX's launcher records a failed input resolution and returns without raising: the
            # task must fail, or Airflow would run what follows on inputs that do not exist.
            raise RuntimeError(f"{node_id} could not resolve its inputs (the log names the input and why)")


def _state(connection_config, execution_id: int) -> str:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    store = metadata_store.MetadataStore(connection_config)
    [execution] = store.get_executions_by_id([execution_id])
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)
