"""How Airflow runs the pipeline: the DAG, one node per task, progress, and what task processes preload."""
