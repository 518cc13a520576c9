"""Builds the Airflow DAG from the compiled pipeline, and what its tasks run."""
from __future__ import annotations

import datetime

from pipeline import runner
from pipeline.config import Home, load_config

DAG_ID = "mnist_pipeline"
PREPARE_TASK = "prepare_data"


def _run_config(context):
    """The run's config: defaults, the home's config.yaml, then the DAG run's conf."""
    dag_run = context.get("dag_run")
    return load_config(overrides=(dag_run.conf if dag_run and dag_run.conf else None))


def prepare_data(**context) -> str:
    from pipeline import data

    with runner.progress(PREPARE_TASK, context["run_id"]) as outcome:
        folder = data.ensure_input(Home.from_env(), _run_config(context))
        outcome["input_dir"] = str(folder)
    return str(folder)


def run_component(node_id: str, **context) -> None:
    runner.run_node(_run_config(context), Home.from_env(), node_id, context["run_id"])


def build_dag():
    from airflow import DAG
    from airflow.operators.python import PythonOperator

    home = Home.from_env()
    nodes = runner.topology(load_config(home=home), home)
    with DAG(
        dag_id=DAG_ID,
        description="MNIST digits: TFX pipeline from raw data to a pushed, validated model",
        schedule=None,
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        # One run at a time: runs share the MLMD store and the serving folder.
        max_active_runs=1,
        default_args={"retries": 0},
        tags=["tfx", "mnist"],
        doc_md=__doc__,
    ) as dag:
        prepare = PythonOperator(task_id=PREPARE_TASK, python_callable=prepare_data)
        tasks = {
            node_id: PythonOperator(task_id=node_id, python_callable=run_component,
                                    op_kwargs={"node_id": node_id})
            for node_id, _ in nodes
        }
        for node_id, upstream in nodes:
            for up in upstream:
                tasks[up] >> tasks[node_id]
            if not upstream:
                prepare >> tasks[node_id]
    return dag
