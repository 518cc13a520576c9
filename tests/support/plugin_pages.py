"""The Airflow plugin's pages (pipeline/services/airflow_plugin.py): their URLs for a run."""
from __future__ import annotations

from urllib.parse import quote

from pipeline.orchestration.airflow_dag import DAG_ID

RUN = "manual__2026-11-29T10:00:00.123456+00:00"  # ':' and '+' as in Airflow's run ids


def task_url(task_id: str, run_id: str = RUN, dag_id: str = DAG_ID) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"


def report_url(run_id: str = RUN) -> str:
    return f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/report"
