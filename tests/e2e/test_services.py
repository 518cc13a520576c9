"""Airflow 3 as a team runs it, on this machine's real PostgreSQL, MariaDB and Redis: `mnist-pipeline
airflow up/down/status`, runs triggered through the REST API v2 and followed, the LocalExecutor and
the CeleryExecutor with two workers, tasks side by side, and a worker killed in the middle of a task.

`airflow_up` (tests/support/airflow.py) brings Airflow up for a home on a fresh PostgreSQL database
and yields what a test needs (URL, admin login, the CLI); the web UI test takes it too.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time

import psutil
import pytest
import requests

from pipeline.home import HOME_ENV, Home
from pipeline.metadata.runs import component_runs, run_ids
from pipeline.metadata.store import open_store
from pipeline.services import airflow_api, processes
from pipeline.services.profiles import AIRFLOW_DB_ENV
from tests.support.airflow import Airflow, airflow_up, error_lines, task_instances, task_logs, triggered_run_id
from tests.support.cli import cli, command
from tests.support.local_databases import mariadb_store_here, postgres_database

SLICE = ["--set", "train_examples=1000", "--set", "eval_examples=500", "--set", "epochs=1"]
UPSTREAM = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
            "DataValidationGate", "Transform"]
COMPONENTS = UPSTREAM + ["Trainer", "Evaluator", "Pusher"]
MLMD_ERROR = re.compile(r"ml_metadata\.errors|AlreadyExistsError|AbortedError|Deadlock found")


# --- Shared by both executors: one home, one MLMD store on MariaDB, a 1,000-image slice --------

@pytest.fixture(scope="module")
def base(home_for_module):
    home = home_for_module
    with mariadb_store_here() as store:
        env = {**os.environ, HOME_ENV: str(home.root), **store,
               # Quick failure detection and retries, so that the killed worker costs a minute, not five.
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
               "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5"}
        assert cli(home, "data", "--limit", "1000", env=env).returncode == 0
        yield home, env


SUPERVISED = re.compile(r"^(\S+) .*Workload finished .*duration=([0-9.]+) .*workload_id=([0-9a-f-]+)")


@dataclasses.dataclass(frozen=True)
class Workload:
    process: str  # the Airflow process whose supervisor ran it: the scheduler, or a Celery worker
    task_id: str
    start: datetime.datetime
    end: datetime.datetime


def _workloads(airflow: Airflow, run_id: str) -> list[Workload]:
    """When the executor ran each of this run's tasks, as the supervisors logged it ("Workload
    finished", with its duration): from taking the task to noticing its process gone, in the
    scheduler's log for the LocalExecutor, in each worker's for Celery. Cached tasks last a
    fraction of a second, so on a loaded machine two independent ones seldom overlap as task
    instances; but two are always enqueued together (ImportExampleGen and ImportSchemaGen):
    with two slots, either both run at once or one runs beside the slot still busy."""
    names = {t["id"]: t["task_id"] for t in task_instances(airflow, run_id)}
    found = []
    for process in airflow.status()["processes"]:
        for line in airflow.home.service_file(process, "log").read_text(errors="replace").splitlines():
            if (match := SUPERVISED.match(line)) and match.group(3) in names:
                end = datetime.datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
                found.append(Workload(process, names[match.group(3)],
                                      end - datetime.timedelta(seconds=float(match.group(2))), end))
    return found


def _at_once(workloads: list[Workload]) -> list[tuple[Workload, Workload]]:
    return [(a, b) for a, b in itertools.combinations(workloads, 2) if a.start < b.end and b.start < a.end]


def _service_tree(home: Home, name: str) -> list[psutil.Process]:
    """A process that `airflow up` started, and all its descendants."""
    from pipeline.services import lifecycle

    root = psutil.Process(lifecycle.read_state(home)["processes"][name])
    return [root, *root.children(recursive=True)]


def _with_tensorflow(tree: list[psutil.Process]) -> list[int]:
    """The pids among `tree` that have TensorFlow's library loaded."""
    def loaded(process):
        with contextlib.suppress(psutil.Error):
            return any("libtensorflow_framework" in m.path for m in process.memory_maps(grouped=True))
        return False

    return [p.pid for p in tree if loaded(p)]


def _assert_all_stopped(airflow: Airflow, port: int) -> None:
    assert processes.home_processes(airflow.home) == []
    assert processes.port_free(port)
    status = airflow.cli("airflow", "status")
    assert status.returncode == 1 and "not running" in status.stdout


# --- The LocalExecutor ------------------------------------------------------------------------

@pytest.fixture(scope="class")
def local(base):
    home, env = base
    with airflow_up(home, env, "local") as airflow:
        yield airflow


@pytest.fixture(scope="class")
def two_runs(local):
    """Two identical runs triggered back to back (the DAG runs one at a time: the second waits)."""
    processes = []
    for _ in range(2):
        processes.append(subprocess.Popen(command("run", *SLICE), env=local.env,
                                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        time.sleep(1)
    outputs = [p.communicate(timeout=1800)[0] for p in processes]
    for output in outputs:
        print(output)
    return [(p.returncode, output) for p, output in zip(processes, outputs)]


class TestLocalExecutor:
    def test_up_prints_the_ui_and_a_generated_admin_login(self, local):
        assert local.url in local.up_output and local.admin_password not in ("admin", "")
        dag = local.api("/dags/mnist_pipeline")
        assert dag.ok and dag.json()["is_paused"] is False
        assert local.token("admin", "admin").status_code in (400, 401, 403)  # never admin/admin
        assert requests.get(f"{local.url}/api/v2/dags/mnist_pipeline", timeout=60).status_code in (401, 403)
        status = local.status()
        assert status["healthy"] and status["executor"] == "LocalExecutor" and status["profile"] == "production"
        assert status["database"].startswith("postgresql://") and status["metadata_store"].startswith("mysql://")
        assert {name: p["running"] for name, p in status["processes"].items()} == {
            "scheduler": True, "dag-processor": True, "api-server": True}
        # The API server is the only process that listens, and only on this machine (no log servers).
        port = int(local.url.rsplit(":", 1)[1])
        assert status["processes"]["api-server"]["listening"] == [f"127.0.0.1:{port}"]
        assert all(not p["listening"] for name, p in status["processes"].items() if name != "api-server")
        assert "up and healthy" in local.cli("airflow", "status").stdout

    def test_no_password_is_on_a_command_line_or_in_a_log(self, local):
        for process in processes.home_processes(local.home):
            assert local.admin_password not in " ".join(process.cmdline())
        api_password = json.loads((local.home.airflow_services / "api-user.json").read_text())["password"]
        assert oct((local.home.airflow_services / "api-user.json").stat().st_mode)[-3:] == "600"
        for log in local.home.airflow_home.rglob("*.log"):
            text = log.read_text(errors="replace")
            assert local.admin_password not in text and api_password not in text, log
        assert oct((local.home.airflow_home / "airflow.cfg").stat().st_mode)[-3:] == "600"

    def test_up_again_is_refused_while_it_runs(self, local):
        again = local.cli("airflow", "up", "--executor", "local", "--port", str(processes.free_port()))
        assert again.returncode == 2 and "already up" in again.stdout

    def test_two_runs_triggered_back_to_back_both_complete(self, local, two_runs):
        (code_a, out_a), (code_b, out_b) = two_runs
        assert code_a == 0, out_a
        assert code_b == 0, out_b
        for output in (out_a, out_b):
            assert "succeeded" in output and "\n  accuracy   " in output
        assert f"{'Trainer':<30} running" in out_a and f"{'Trainer':<30} COMPLETE" in out_a
        assert "epoch 1/1" in out_a
        for output in (out_a, out_b):  # every task's end was read from its log, the teardown's included
            assert "ended without a result" not in output and f"{'write_report':<30} COMPLETE" in output
        assert f"{'Trainer':<30} CACHED" in out_b
        store = open_store(local.home)
        run_a, run_b = triggered_run_id(out_a), triggered_run_id(out_b)
        # The second waited in the queue and said for what, at once and then every 30 s: again if
        # the first run took long enough (on a fast machine it ends within 30 s).
        assert re.search(rf"queued behind {re.escape(run_a)} \(one run at a time\); waiting 0:0\d so far", out_b)
        first_run_seconds = int(re.search(r"succeeded in (\d+) s", out_a).group(1))
        if first_run_seconds >= airflow_api.QUEUED_EVERY + 5:
            assert re.search(r"waiting 0:[345]\d so far", out_b), out_b
        elif first_run_seconds < airflow_api.QUEUED_EVERY - 2:  # and never before its time
            assert not re.search(r"waiting 0:[1-9]\d so far", out_b), out_b
        assert {c: r.state for c, r in component_runs(store, run_a).items() if c in COMPONENTS} == \
            {c: "COMPLETE" for c in COMPONENTS}
        assert {c: r.state for c, r in component_runs(store, run_b).items() if c in COMPONENTS} == \
            {c: "CACHED" for c in COMPONENTS}
        for run_id in (run_a, run_b):
            logs = task_logs(local.home, run_id)
            assert "mnist-pipeline-progress" in logs
            assert not MLMD_ERROR.findall(logs)
            assert error_lines(logs) == []  # the UI shows a green run with no red line

    def test_the_executor_ran_two_tasks_of_each_run_at_once(self, local, two_runs):
        for _, output in two_runs:
            workloads = _workloads(local, triggered_run_id(output))
            assert len(workloads) >= len(COMPONENTS), workloads
            assert _at_once(workloads), f"no two tasks ran at once: {workloads}"

    def test_task_processes_fork_from_a_worker_that_loaded_tfx(self, local, two_runs):
        assert _with_tensorflow(_service_tree(local.home, "scheduler"))

    def test_down_leaves_no_process_behind(self, local, two_runs):
        port = int(local.url.rsplit(":", 1)[1])
        down = local.cli("airflow", "down")
        assert down.returncode == 0 and "stopped scheduler" in down.stdout
        _assert_all_stopped(local, port)


# --- The CeleryExecutor with two workers ------------------------------------------------------

def _worker_running(airflow: Airflow, run_id: str, task_id: str) -> tuple[str, psutil.Process]:
    """The Celery worker whose process tree runs this task now: Airflow 3's task process is titled
    `airflow worker -- <task instance id>`."""
    workers = {name: p["pid"] for name, p in airflow.status()["processes"].items() if name.startswith("worker")}
    [ti] = [t for t in task_instances(airflow, run_id) if t["task_id"] == task_id]
    seen = []
    for process in processes.home_processes(airflow.home):
        command = " ".join(process.cmdline())
        seen.append(command)
        if ti["id"] in command:
            for parent in process.parents():
                for name, pid in workers.items():
                    if parent.pid == pid:
                        return name, parent
    raise AssertionError(f"no worker runs {task_id} ({ti['id']}); the home's processes: {seen}")


@pytest.fixture(scope="class")
def celery(base):
    home, env = base
    with airflow_up(home, env, "celery", workers=2) as airflow:
        yield airflow


@pytest.fixture(scope="class")
def killed_run(celery):
    """A run (new seed: the Trainer trains, the rest upstream is in MLMD already) whose Trainer's
    Celery worker is SIGKILLed, with everything it started, while the Trainer runs."""
    process = subprocess.Popen(command("run", *SLICE, "--set", "seed=7"),
                               env=celery.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.search(r"Trainer\s+running", line):
            break
    name, worker = _worker_running(celery, triggered_run_id("".join(lines)), "Trainer")
    doomed = [worker, *worker.children(recursive=True)]
    for victim in doomed:
        victim.send_signal(signal.SIGKILL)
    psutil.wait_procs(doomed, timeout=30)
    status_after_kill = celery.status()
    lines += process.stdout.readlines()
    process.wait(timeout=1800)
    output = "".join(lines)
    print(output)
    return {"code": process.returncode, "output": output, "killed": name, "status": status_after_kill}


class TestCeleryExecutor:
    def test_up_starts_two_workers_on_the_home_s_own_queue(self, celery):
        status = celery.status()
        assert status["healthy"] and status["executor"] == "CeleryExecutor"
        assert status["broker"].startswith("redis://") and status["queue"].startswith("mnist-")
        assert {n: p["running"] for n, p in status["processes"].items()} == \
            {"scheduler": True, "dag-processor": True, "worker-1": True, "worker-2": True, "api-server": True}
        # Only the API server serves others; what a worker's task opens is on the loopback only.
        listening = [address for p in status["processes"].values() for address in p["listening"]]
        assert all(a.rsplit(":", 1)[0] in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for a in listening), listening

    def test_a_killed_worker_s_task_is_retried_and_the_run_completes(self, celery, killed_run):
        assert killed_run["code"] == 0, killed_run["output"]
        assert re.search(r"Trainer\s+FAILED\s+attempt 1 ended without a result", killed_run["output"])
        run_id = triggered_run_id(killed_run["output"])
        trainer = [t for t in task_instances(celery, run_id) if t["task_id"] == "Trainer"][0]
        assert trainer["state"] == "success" and trainer["try_number"] == 2
        store = open_store(celery.home)
        runs = component_runs(store, run_id)
        assert runs["Trainer"].state == "COMPLETE" and runs["Evaluator"].state == "COMPLETE"
        # The retried Trainer took its inputs from MLMD, as the first attempt's upstream left them.
        assert [a.id for a in runs["Trainer"].inputs["transform_graph"]] == \
            [a.id for a in runs["Transform"].outputs["transform_graph"]]
        if [r for r in run_ids(store) if r != run_id]:  # the LocalExecutor's runs came first
            data_side = [c for c in UPSTREAM if c != "Transform"]  # Transform re-runs when components/ changed
            assert {c: runs[c].state for c in data_side} == {c: "CACHED" for c in data_side}
        assert not MLMD_ERROR.findall(task_logs(celery.home, run_id))

    def test_task_processes_fork_from_a_worker_that_loaded_tfx(self, celery, killed_run):
        survivor = next(n for n in ("worker-1", "worker-2") if n != killed_run["killed"])
        assert _with_tensorflow(_service_tree(celery.home, survivor))

    def test_status_reflects_the_killed_worker(self, celery, killed_run):
        status = killed_run["status"]
        assert status["processes"][killed_run["killed"]]["running"] is False
        assert status["up"] is False and status["healthy"] is False
        others = {n for n in status["processes"] if n != killed_run["killed"]}
        assert all(status["processes"][n]["running"] for n in others)

    def test_both_workers_ran_the_run_s_workloads_at_the_same_time(self, celery, killed_run):
        workloads = _workloads(celery, triggered_run_id(killed_run["output"]))
        assert {w.process for w in workloads} == {"worker-1", "worker-2"}, workloads
        assert [(a, b) for a, b in _at_once(workloads) if a.process != b.process], \
            f"the two workers never ran this run's tasks at the same time: {workloads}"

    def test_down_leaves_no_process_behind(self, celery, killed_run):
        port = int(celery.url.rsplit(":", 1)[1])
        down = celery.cli("airflow", "down")
        assert down.returncode == 0 and "stopped scheduler" in down.stdout
        _assert_all_stopped(celery, port)


def test_clear_errors_before_anything_starts(home):
    env = dict(os.environ)
    env.pop(AIRFLOW_DB_ENV, None)
    celery_on_sqlite = cli(home, "airflow", "up", "--executor", "celery", env=env)
    assert celery_on_sqlite.returncode == 2 and "needs Airflow's database on PostgreSQL" in celery_on_sqlite.stdout
    parallel_on_sqlite = cli(home, "airflow", "up", "--workers", "2", env=env)
    assert parallel_on_sqlite.returncode == 2 and "one task at a time" in parallel_on_sqlite.stdout
    sequential = cli(home, "airflow", "up", env={**env, "MNIST_PIPELINE_EXECUTOR": "sequential"})
    assert sequential.returncode == 2 and "removed the SequentialExecutor" in sequential.stdout
    unreachable = cli(home, "airflow", "up",
                      env={**env, AIRFLOW_DB_ENV: f"postgresql://postgres@127.0.0.1:{processes.free_port()}/x"})
    assert unreachable.returncode == 2 and "cannot reach Airflow's database" in unreachable.stdout
    with postgres_database() as database:
        taken = processes.free_port()
        with socket.create_server(("127.0.0.1", taken)):
            busy = cli(home, "airflow", "up", "--port", str(taken), env={**env, AIRFLOW_DB_ENV: database})
        assert busy.returncode == 2 and f"port {taken}" in busy.stdout and "taken" in busy.stdout
    assert not home.services_state.exists()


