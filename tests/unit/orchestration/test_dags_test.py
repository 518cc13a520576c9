"""`pipeline.orchestration.dags_test`: an in-process run's execution API is built for the one
version its task SDK speaks, and still serves that client. In a fresh process, as `airflow_main`
runs it: the change is to Airflow's modules, for that process only."""
import json
import subprocess
import sys

SCRIPT = """
import json
from pipeline.orchestration import dags_test
dags_test.leave_out_unused_setup()

import httpx
from airflow.api_fastapi.execution_api import versions
from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
from airflow.dag_processing import collection
from airflow.sdk.api.datamodels._generated import API_VERSION

api = InProcessExecutionAPI()
client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid/")
health = client.get("health", headers={"airflow-api-version": API_VERSION})
# A route that needs the database and the task SDK's own version: a task instance that does not exist.
missing = client.get("variables/no_such_variable",
                     headers={"airflow-api-version": API_VERSION})
print(json.dumps({"versions": [v.value for v in versions.bundle.versions], "api_version": API_VERSION,
                  "health": health.status_code, "missing": missing.status_code, "detail": missing.text,
                  "perm_sync": collection._sync_dag_perms(None, None)}))
"""


def test_the_in_process_execution_api_has_the_task_sdks_version_alone_and_serves_it(tmp_path):
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
           "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, text=True, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["versions"] == [outcome["api_version"]]  # beside head, which is the same
    assert outcome["health"] == 200
    assert outcome["missing"] == 404 and "no_such_variable" in outcome["detail"], outcome  # answered by the route
    assert outcome["perm_sync"] is None
