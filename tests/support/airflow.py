"""Airflow brought up for a home by `mnist-pipeline airflow up` on a fresh PostgreSQL database:
for the services tests and the web UI test."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess

import requests

from pipeline.home import HOME_ENV, Home
from pipeline.services import processes
from pipeline.services.profiles import AIRFLOW_DB_ENV
from tests.support.cli import cli
from tests.support.local_databases import postgres_database


@dataclasses.dataclass
class Airflow:
    home: Home
    env: dict[str, str]
    url: str
    admin_password: str
    up_output: str

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return cli(self.home, *args, env=self.env, **kwargs)

    def token(self, username: str = "admin", password: str | None = None) -> requests.Response:
        return requests.post(f"{self.url}/auth/token", json={"username": username,
                                                             "password": password or self.admin_password}, timeout=60)

    def api(self, path: str) -> requests.Response:
        """GET /api/v2{path} as the admin, with a JWT from the token endpoint."""
        token = self.token()
        assert token.ok, token.text
        return requests.get(f"{self.url}/api/v2{path}", timeout=60,
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def status(self) -> dict:
        return json.loads(self.cli("airflow", "status", "--json", merge_stderr=False).stdout)


def triggered_run_id(output: str) -> str:
    """The DAG run that `mnist-pipeline run` triggered on the scheduler, from its output."""
    match = re.search(r"triggered (\S+) on the scheduler", output)
    assert match, output
    return match.group(1)


def task_instances(airflow: Airflow, run_id: str) -> list[dict]:
    response = airflow.api(f"/dags/mnist_pipeline/dagRuns/{run_id}/taskInstances?limit=100")
    assert response.ok, response.text
    return response.json()["task_instances"]


@contextlib.contextmanager
def airflow_up(home: Home, env: dict[str, str], executor: str, workers: int = 2, host: str = "127.0.0.1",
               database_at: str | None = None):
    """`mnist-pipeline airflow up` for `home` on a fresh PostgreSQL database, a free port; `down` after.
    Yields what a test needs: the URL, the admin's login, the CLI with this environment. `host`:
    the API server's address (`--host`); `database_at`: HOST:PORT where Airflow reaches PostgreSQL
    (a forwarder) instead of 127.0.0.1:5432."""
    with postgres_database() as database:
        if database_at:
            database = database.replace("@127.0.0.1:5432/", f"@{database_at}/")
        env = {**env, HOME_ENV: str(home.root), AIRFLOW_DB_ENV: database}
        port = processes.free_port()
        up = cli(home, "airflow", "up", "--executor", executor, "--workers", str(workers), "--port", str(port),
                 "--host", host, env=env, timeout=900)
        try:
            assert up.returncode == 0, up.stdout
            login = re.search(r"login:\s+admin / (\S+)", up.stdout)
            assert login, up.stdout
            yield Airflow(home, env, f"http://{host}:{port}", login.group(1), up.stdout)
        finally:
            cli(home, "airflow", "down", env=env)


def task_logs(home: Home, run_id: str, task_id: str = "*") -> str:
    """The task logs of a run (or of one task of it, every attempt), as the scheduler wrote them."""
    folder = home.airflow_home / "logs" / "dag_id=mnist_pipeline" / f"run_id={run_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob(f"task_id={task_id}/**/*.log")))


def error_lines(logs: str) -> list[str]:
    """The events of a task log's ERROR-level lines (Airflow 3 logs JSON lines; it gives what a task
    writes to stderr that level): the red lines of the UI's log view."""
    errors = []
    for line in logs.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                errors.append(str(record.get("event")))
    return errors
