"""The compose file's five Airflow services run as processes with compose's environment, each
passing its compose health check; then a FAB login and a task through Celery and the execution API."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.deploy import AIRFLOW_SERVICES, REPO

PROBE_DAG = """
from airflow.sdk import DAG, task

with DAG("deploy_probe", schedule=None) as dag:
    @task
    def reach_the_api_server():
        return "ok"

    reach_the_api_server()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_own_hostname(hostname: str, command: list[str]) -> list[str]:
    """`command` in a UTS namespace of its own named `hostname`, as a container has: Celery names
    its worker after it and `airflow jobs check --local` matches on it, so the checks below find
    these processes and not another worker or job on this machine."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *command]


def test_health_checks_pass_against_a_live_airflow(resolved, airflow_database, tmp_path):
    """The five Airflow services run for real, from this project's environment (the image's lock)
    with compose's environment, and each compose health check passes against them. Then FAB's
    token endpoint logs the init script's admin in (a wrong password is refused), and a triggered
    DAG's task runs on the Celery worker, which reaches the execution API with the token the
    scheduler signed with the shared JWT secret.

    What differs from the containers, so that this runs beside other tests on one machine:
    this machine's PostgreSQL and Redis (a database of its own) instead of the compose services;
    free ports instead of 8080, 8974 and the log servers' (the health checks are rewritten to
    match); each process in a UTS namespace with its own hostname, like a container's."""
    import json
    import random
    import time
    import uuid

    import requests

    services = resolved["services"]
    api_port, health_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deploy_probe.py").write_text(PROBE_DAG)
    local = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "MNIST_PIPELINE_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_database,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_database.replace("+psycopg2", ""),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{random.randint(8, 15)}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }

    def environment(name: str) -> dict[str, str]:
        env = {key: str(value) for key, value in services[name]["environment"].items()}
        url = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        assert url == "http://airflow-apiserver:8080/execution/"
        return {**env, **local, "HOSTNAME": f"{name}-{suffix}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/"}

    def here(text: str) -> str:
        return (text.replace("$$", "$").replace("127.0.0.1:8080", f"127.0.0.1:{api_port}")
                .replace("127.0.0.1:8974", f"127.0.0.1:{health_port}"))

    # The admin and the schema, as the airflow-init service makes them (its script, this venv).
    init_env = {**environment("airflow-init"), "AIRFLOW_USER": "root", "MNIST_PIPELINE_HOME": str(home),
                "DAGS_VOLUME": str(tmp_path / "init-dags")}
    (tmp_path / "init-dags").mkdir()
    init = subprocess.run([str(REPO / "deploy" / "init-airflow.sh")], env=init_env, capture_output=True,
                          text=True, timeout=600)
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]

    started: dict[str, subprocess.Popen] = {}
    try:
        for name in AIRFLOW_SERVICES:
            command = [here(str(word)) if word != "8080" else str(api_port) for word in services[name]["command"]]
            with open(tmp_path / f"{name}.log", "w") as log:
                started[name] = subprocess.Popen(in_own_hostname(f"{name}-{suffix}", command), env=environment(name),
                                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 start_new_session=True, cwd=tmp_path)

        def log_tail(name: str) -> str:
            return f"--- {name}:\n" + (tmp_path / f"{name}.log").read_text()[-3000:]

        waiting = {name: services[name]["healthcheck"]["test"] for name in AIRFLOW_SERVICES}
        deadline = time.monotonic() + 300
        while waiting:
            for name, test in list(waiting.items()):
                assert started[name].poll() is None, f"{name} exited\n{log_tail(name)}"
                check = [here(word) for word in test[1:]] if test[0] == "CMD" else ["sh", "-c", here(test[1])]
                process = subprocess.run(in_own_hostname(f"{name}-{suffix}", check), env=environment(name),
                                         capture_output=True, text=True, timeout=120)
                if process.returncode == 0:
                    del waiting[name]
            assert time.monotonic() < deadline, \
                f"unhealthy after 300 s: {sorted(waiting)}\n" + "\n".join(log_tail(name) for name in waiting)
            time.sleep(3)

        api = f"http://127.0.0.1:{api_port}"
        admin = {"username": init_env["AIRFLOW_ADMIN_USERNAME"], "password": init_env["AIRFLOW_ADMIN_PASSWORD"]}
        refused = requests.post(f"{api}/auth/token", json={**admin, "password": "not-" + admin["password"]}, timeout=30)
        assert refused.status_code == 401, refused.text
        token = requests.post(f"{api}/auth/token", json=admin, timeout=30)
        assert token.status_code == 201, token.text
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert requests.get(f"{api}/api/v2/dags", timeout=30).status_code == 401, "the REST API needs a token"

        deadline = time.monotonic() + 180
        while session.get(f"{api}/api/v2/dags/deploy_probe", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the DAG processor did not parse the probe DAG\n" + \
                log_tail("airflow-dag-processor")
            time.sleep(3)
        run = session.post(f"{api}/api/v2/dags/deploy_probe/dagRuns", json={"logical_date": None}, timeout=30)
        assert run.status_code == 200, run.text
        run_url = f"{api}/api/v2/dags/deploy_probe/dagRuns/{run.json()['dag_run_id']}"
        deadline = time.monotonic() + 300
        while (state := session.get(run_url, timeout=30).json()["state"]) not in ("success", "failed"):
            assert time.monotonic() < deadline, f"the probe run is still {state}"
            time.sleep(3)
        tasks = session.get(f"{run_url}/taskInstances", timeout=30).json()["task_instances"]
        task_logs = "\n".join(p.read_text()[-2000:] for p in (home / "airflow" / "logs").rglob("*.log"))
        assert state == "success", json.dumps(tasks, indent=1)[:2000] + task_logs + log_tail("airflow-worker")
        [probe] = tasks
        assert probe["hostname"] == f"airflow-worker-{suffix}", "the task ran on this test's Celery worker"
    finally:
        for process in started.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

