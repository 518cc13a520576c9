"""The Airflow plugin's pages (pipeline/services/airflow_plugin.py) served by a real `airflow
api-server` with FAB logins: to logged-in users with access to DAGs only (25-45 s: Airflow's
database, two logins, the API server). The pages themselves: tests/unit/services/test_airflow_plugin.py."""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.metadata.records import record_run
from tests.support.plugin_pages import RUN, report_url, task_url


def _request(url: str, token: str | None = None, cookie: bool = False, body: dict | None = None):
    headers = {"Content-Type": "application/json"} if body else {}
    if token:
        headers["Cookie" if cookie else "Authorization"] = f"_token={token}" if cookie else f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers)
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError:  # not listening yet
        return None, ""


def _plugins_folder(tmp_path: Path) -> Path:
    """The plugin through a plugins folder, until pyproject.toml registers the entry point."""
    from importlib.metadata import entry_points

    folder = tmp_path / "plugins"
    folder.mkdir()
    if not entry_points(group="airflow.plugins", name="mnist_pipeline"):
        (folder / "mnist_pipeline_plugin.py").write_text(
            "from pipeline.services.airflow_plugin import MnistPipelinePlugin  # noqa: F401\n")
    return folder


def test_the_api_server_serves_the_pages_to_logged_in_users_only(home, tmp_path):
    from pipeline.services import logins, processes

    home.airflow_services.mkdir(parents=True)
    record_run(home, RUN, {"epochs": 1})
    path = home.report_file(RUN)
    path.parent.mkdir(parents=True)
    path.write_text("<html><body>the report of the run</body></html>")
    port = processes.free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home.airflow_home), "MNIST_PIPELINE_HOME": str(home.root),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.airflow_home / 'airflow.db'}",
           "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PLUGINS_FOLDER": str(_plugins_folder(tmp_path)),
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"}
    started = time.monotonic()
    processes.run_once(home, "migrate", ["db", "migrate"], env)
    # The password reaches `airflow users create` on its standard input, never on a command line.
    logins.create_user(home, env, "admin", "a-test-password", "Admin")
    logins.create_user(home, env, "nobody", "another-password", "Public")
    log = home.airflow_services / "api-server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(processes.airflow_command(["api-server", "--host", "127.0.0.1", "--port", str(port),
                                                              "--workers", "1"]),
                                  env=env, stdout=output, stderr=subprocess.STDOUT, cwd=home.airflow_home,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _request(f"{url}/api/v2/monitor/health")[0] != 200:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        status, body = _request(f"{url}/auth/token", body={"username": "admin", "password": "a-test-password"})
        assert status == 201, body
        token = json.loads(body)["access_token"]

        status, body = _request(f"{url}/api/v2/plugins", token)
        [plugin] = [p for p in json.loads(body)["plugins"] if p["name"] == "mnist_pipeline"]
        assert {v["destination"]: v["href"] for v in plugin["external_views"]} == {
            "dag_run": "/mnist-pipeline/dags/{DAG_ID}/runs/{RUN_ID}/report",
            "task_instance": "/mnist-pipeline/dags/{DAG_ID}/runs/{RUN_ID}/tasks/{TASK_ID}"}

        page = f"{url}/mnist-pipeline{report_url()}"
        assert _request(page)[0] == 401
        assert _request(page, "not-a-token")[0] in (401, 403)
        assert _request(page, token) == (200, path.read_text())
        assert _request(page, token, cookie=True) == (200, path.read_text())  # as the UI's frame asks
        status, body = _request(f"{url}/auth/token", body={"username": "nobody", "password": "another-password"})
        assert _request(page, json.loads(body)["access_token"])[0] == 403  # logged in, but no access to DAGs
        # The API server reads the run from MLMD and Airflow's database.
        status, body = _request(f"{url}/mnist-pipeline{task_url('prepare_data')}", token)
        assert status == 200 and "&quot;epochs&quot;: 1" in body
        status, body = _request(f"{url}/mnist-pipeline{task_url('Trainer', run_id='manual__nope')}", token)
        assert status == 404 and "No such run" in body
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers, a process group of their own
        server.wait(timeout=30)
    print(f"api-server test: {time.monotonic() - started:.0f} s")

