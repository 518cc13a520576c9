"""The MNIST TFX pipeline as an Airflow DAG: one task per TFX component, plus data preparation.

Trigger it from the Airflow UI (optionally with a JSON conf of config overrides, e.g.
{"epochs": 1}) or with `mnist-pipeline run`: on the scheduler that `mnist-pipeline airflow up`
started, through Airflow's REST API, or else in-process through `airflow dags test`. Loading this
file imports neither TensorFlow nor TFX (see pipeline/definition/topology.py); the tasks do.
"""
from pipeline.orchestration.airflow_dag import build_dag

dag = build_dag()
