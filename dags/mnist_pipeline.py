"""The MNIST TFX pipeline as an Airflow DAG: one task per TFX component, plus data preparation.

Trigger it from the Airflow UI (optionally with a JSON conf of config overrides, e.g.
{"epochs": 1}) or with `mnist-pipeline run`, which runs it through `airflow dags test`.
"""
from pipeline.airflow_dag import build_dag

dag = build_dag()
