"""Builds the Airflow DAG from the pipeline's declared graph, and what its tasks run.

Airflow parses the DAG file every 30 s: building the DAG imports neither TensorFlow nor TFX
(see `pipeline.definition.topology`); the tasks import them when they run. `prepare_data` compiles the
pipeline once and records it with the run in MLMD; every other task executes its node of that
recorded pipeline, so a run is fixed when it starts (config, code version, wiring) and no task
compiles or imports the pipeline's definition.
"""
from __future__ import annotations

import datetime

from components import nodes
from pipeline.config import PipelineConfig, load_config
from pipeline.definition.pipeline import NODES
from pipeline.home import Home
from pipeline.orchestration.approval import approval_task
from pipeline.orchestration.progress import progress
from pipeline.orchestration.runner import compile_pipeline, run_node
from pipeline.orchestration.task_host import in_task_process

DAG_ID = "mnist_pipeline"
PREPARE_TASK = "prepare_data"
REPORT_TASK = "write_report"


def data_asset(home: Home, config: PipelineConfig):
    """The Asset standing for the home's data set; its events name a span (partition key)."""
    from airflow.sdk import Asset

    return Asset(name=asset_name(config), uri=home.source_data(config).resolve().as_uri(), group="data")


def asset_name(config: PipelineConfig) -> str:
    return f"{config.pipeline_name}_data_set"


def _timetable(home: Home, config: PipelineConfig):
    if config.schedule:
        from airflow.sdk import CronTriggerTimetable

        return CronTriggerTimetable(config.schedule, timezone="UTC")
    from airflow.sdk import PartitionedAssetTimetable

    return PartitionedAssetTimetable(assets=data_asset(home, config))


def event_span(context) -> int | None:
    """The span a run started by a data set event ingests (its partition key); None otherwise."""
    dag_run = context.get("dag_run")
    key = getattr(dag_run, "partition_key", None) if dag_run else None
    if key is None:
        return None
    if not str(key).strip().isdigit():
        raise ValueError(f"the run's data set event names partition key {key!r}, which is no span number: "
                         "emit the event with the span as its partition key (docs/airflow.md)")
    return int(key)


def _requested_config(context):
    """What the run asks for: defaults, the home's config.yaml, then the DAG run's conf."""
    dag_run = context.get("dag_run")
    return load_config(overrides=(dag_run.conf if dag_run and dag_run.conf else None))


def _run_pipeline(context) -> bytes:
    """The compiled pipeline `prepare_data` recorded when the run started: an edit of config.yaml
    or of the code during a run (or before a cleared task runs again) changes nothing in it. The
    requested config only says where the metadata store is."""
    from pipeline.metadata.records import recorded_pipeline
    from pipeline.metadata.store import open_store

    store = open_store(Home.from_env(), _requested_config(context))
    compiled = recorded_pipeline(store, context["run_id"])
    if compiled is None:
        raise RuntimeError(f"run {context['run_id']} recorded no compiled pipeline: its {PREPARE_TASK} task did "
                           f"not run, or ran before this version; start a new run")
    return compiled


def _started_config(context):
    """The config the run recorded when it started (`prepare_data`), whatever config.yaml says now."""
    from pipeline.metadata.records import recorded_config
    from pipeline.metadata.store import open_store

    requested = _requested_config(context)
    recorded = recorded_config(open_store(Home.from_env(), requested), context["run_id"])
    return requested if recorded is None else load_config(overrides=recorded)


def prepare_data(**context) -> str:
    """Make sure the run's input data is there and choose the span it ingests (its event's span,
    else the oldest not yet ingested), then compile the pipeline and record the run (config,
    commit, compiled pipeline) in MLMD."""
    from pipeline.data import inputs
    from pipeline.metadata.records import record_run
    from pipeline.metadata.spans import ingested_spans

    home, config = Home.from_env(), _requested_config(context)
    with progress(PREPARE_TASK, context["run_id"]) as outcome:
        try:
            chosen = inputs.ensure_input(home, config, lambda data_set: ingested_spans(home, config, data_set),
                                         span=event_span(context))
        except Exception:
            record_run(home, context["run_id"], config.to_dict())  # a failed run is a run
            raise
        compiled = compile_pipeline(config, home, chosen).SerializeToString()
        record_run(home, context["run_id"], config.to_dict(), compiled)
        outcome["input_dir"] = str(chosen.folder)
        if chosen.span is not None:
            outcome["span"] = chosen.span
            outcome["waiting"] = list(chosen.waiting)
    return str(chosen.folder)


def write_report(**context) -> str:
    """The run's HTML report; runs whatever happened upstream, and fails nothing."""
    from pipeline.reports import report

    with progress(REPORT_TASK, context["run_id"]) as outcome:
        try:
            path = str(report.write_report(Home.from_env(), context["run_id"]))
        except LookupError:  # the run failed before it was recorded: nothing to report on
            path, outcome["state"] = "", "SKIPPED"
        outcome["report"] = path
    return path


def run_component(node_id: str, **context) -> None:
    run_node(_run_pipeline(context), node_id, context["run_id"])


def build_dag():
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    home = Home.from_env()
    with DAG(
        dag_id=DAG_ID,
        description="MNIST digits: TFX pipeline from raw data to a pushed, validated model",
        schedule=_timetable(home, load_config(home=home)),
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        # One run at a time: runs share the MLMD store and the serving folder.
        max_active_runs=1,
        # Retries: Airflow's [core] default_task_retries (0 unless the profile sets it).
        tags=["tfx", "mnist"],
        doc_md=__doc__,
    ) as dag:
        # In-process (`airflow dags test`) each runs in a process of the warm task host.
        prepare = PythonOperator(task_id=PREPARE_TASK, python_callable=in_task_process(prepare_data))
        tasks = {
            node_id: PythonOperator(task_id=node_id, python_callable=in_task_process(run_component),
                                    op_kwargs={"node_id": node_id})
            for node_id in NODES
        }
        for node_id, upstream in NODES.items():
            for up in upstream:
                tasks[up] >> tasks[node_id]
            if not upstream:
                prepare >> tasks[node_id]
        # A person approves a blessed model before the Pusher runs, when the config asks for it.
        approve = approval_task(DAG_ID, _started_config)
        tasks[nodes.EVALUATOR] >> approve >> tasks[nodes.PUSHER]
        # A teardown task runs after the others whatever their outcome, and does not decide
        # the DAG run's state: a failed run stays failed, and still gets its report.
        report = PythonOperator(task_id=REPORT_TASK, python_callable=in_task_process(write_report)).as_teardown()
        [*tasks.values(), approve] >> report
        prepare >> report
    return dag
