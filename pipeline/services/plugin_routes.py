"""Where the Airflow plugin's pages live (pipeline/services/airflow_plugin.py), for whoever links to
them: the approval request links the run's report (pipeline/orchestration/approval.py)."""

URL_PREFIX = "/mnist-pipeline"
REPORT_ROUTE = "/dags/{dag_id}/runs/{run_id}/report"
