"""Builds the Airflow DAG from the pipeline's declared graph, and what its tasks run.

Airflow parses the DAG file every 30 s: building the DAG imports neither TensorFlow nor TFX
(see `pipeline.topology`); the tasks import them when they run.
"""
from __future__ import annotations

import datetime

from pipeline import runner, topology
from pipeline.config import Home, config_as_recorded, load_config

DAG_ID = "mnist_pipeline"
PREPARE_TASK = "prepare_data"
REPORT_TASK = "write_report"


def _requested_config(context):
    """What the run asks for: defaults, the home's config.yaml, then the DAG run's conf."""
    dag_run = context.get("dag_run")
    return load_config(overrides=(dag_run.conf if dag_run and dag_run.conf else None))


def _run_config(context):
    """The config `prepare_data` recorded when the run started: an edit of config.yaml during a
    run (or before a cleared task runs again) changes nothing in it. The requested config only
    says where the metadata store is."""
    from pipeline import metadata

    requested = _requested_config(context)
    recorded = metadata.recorded_config(metadata.open_store(Home.from_env(), requested), context["run_id"])
    if recorded is None:
        raise RuntimeError(f"run {context['run_id']} recorded no config: its {PREPARE_TASK} task did not run")
    return config_as_recorded(recorded)


def prepare_data(**context) -> str:
    """Record the run (config, commit) in MLMD, then make sure its input data is there."""
    from pipeline import data, metadata

    home, config = Home.from_env(), _requested_config(context)
    with runner.progress(PREPARE_TASK, context["run_id"]) as outcome:
        metadata.record_run(home, context["run_id"], config.to_dict())
        folder = data.ensure_input(home, config)
        outcome["input_dir"] = str(folder)
    return str(folder)


def write_report(**context) -> str:
    """The run's HTML report; runs whatever happened upstream, and fails nothing."""
    from pipeline import report

    with runner.progress(REPORT_TASK, context["run_id"]) as outcome:
        try:
            path = str(report.write_report(Home.from_env(), context["run_id"]))
        except LookupError:  # the run failed before it was recorded: nothing to report on
            path, outcome["state"] = "", "SKIPPED"
        outcome["report"] = path
    return path


def run_component(node_id: str, **context) -> None:
    runner.run_node(_run_config(context), Home.from_env(), node_id, context["run_id"])


def build_dag():
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    with DAG(
        dag_id=DAG_ID,
        description="MNIST digits: TFX pipeline from raw data to a pushed, validated model",
        schedule=None,
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        # One run at a time: runs share the MLMD store and the serving folder.
        max_active_runs=1,
        # Retries: Airflow's [core] default_task_retries (0 unless the profile sets it).
        tags=["tfx", "mnist"],
        doc_md=__doc__,
    ) as dag:
        prepare = PythonOperator(task_id=PREPARE_TASK, python_callable=prepare_data)
        tasks = {
            node_id: PythonOperator(task_id=node_id, python_callable=run_component,
                                    op_kwargs={"node_id": node_id})
            for node_id in topology.NODES
        }
        for node_id, upstream in topology.NODES.items():
            for up in upstream:
                tasks[up] >> tasks[node_id]
            if not upstream:
                prepare >> tasks[node_id]
        # A teardown task runs after the others whatever their outcome, and does not decide
        # the DAG run's state: a failed run stays failed, and still gets its report.
        report = PythonOperator(task_id=REPORT_TASK, python_callable=write_report).as_teardown()
        list(tasks.values()) >> report
        prepare >> report
    return dag
