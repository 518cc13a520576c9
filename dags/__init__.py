"""Airflow's DAGs folder for this project (`AIRFLOW__CORE__DAGS_FOLDER` points here)."""
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parent
