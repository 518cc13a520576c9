"""When the scheduler's host loses its Airflow processes during the Trainer: the orphaned task
stops by itself, `airflow up` again closes the run, `resume` starts at once and finishes it, and
nothing is doubled in MLMD. Embedded (SQLite) with every service killed, and the production
profile (LocalExecutor on PostgreSQL, MLMD on MariaDB) with only the scheduler killed.

The services' process groups are SIGKILLed, as a host losing them would: the Trainer's task
process is not in those groups (Airflow's supervisor gives it one of its own), so its death is the
watchdog's doing (pipeline/orchestration/supervision.py).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time

import psutil
import pytest

from pipeline.config import load_config
from pipeline.home import HOME_ENV, Home
from pipeline.metadata.runs import component_runs, run_ids
from pipeline.metadata.store import open_store
from pipeline.services import processes
from pipeline.services.profiles import AIRFLOW_DB_ENV
from tests.support.cli import cli, cli_json, command
from tests.support.local_databases import mariadb_store_here, postgres_database

# A gate a 1,000-image model passes: the test is about the crash, not the model.
SLICE = ["--set", "train_examples=1000", "--set", "eval_examples=500", "--set", "epochs=1", "--set", "min_accuracy=0.5"]
UPSTREAM = ["ImportExampleGen", "StatisticsGen", "ExampleValidator", "DataValidationGate", "Transform"]


def _up(home, env, port):
    up = cli(home, "airflow", "up", "--port", str(port), env=env, timeout=900)
    assert up.returncode == 0, up.stdout
    return up.stdout


def _kill(home, only: str | None = None) -> list[psutil.Process]:
    """SIGKILL the home's Airflow services (or `only` one) with their process groups; returns the
    home's processes that were not in those groups (the task processes)."""
    services = {p.stem: os.getpgid(int(p.read_text())) for p in home.airflow_services.glob("*.pid")}
    outside = [p for p in processes.home_processes(home) if os.getpgid(p.pid) not in services.values()]
    for group in [services[only]] if only else services.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    return outside


@contextlib.contextmanager
def _profile(name: str):
    """The environment of a profile: embedded (SQLite), or production (LocalExecutor on PostgreSQL,
    two tasks at once, MLMD on MariaDB)."""
    env = {k: v for k, v in os.environ.items() if k != AIRFLOW_DB_ENV}
    if name == "embedded":
        yield env
        return
    with postgres_database() as database, mariadb_store_here() as store:
        yield {**env, **store, AIRFLOW_DB_ENV: database}


# embedded: every service is killed; production: only the scheduler, whose LocalExecutor workers
# supervise the tasks; `airflow down` then stops the rest before `up`.
SCENARIOS = {"embedded": None, "production": "scheduler"}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def crash(request, tmp_path_factory):
    home = Home(tmp_path_factory.mktemp(f"crash-{request.param}") / "home")
    with _profile(request.param) as env:
        # A new scheduler adopts the tasks of one that has not reported for this long, and would run
        # them again: the test waits past it before `airflow up` again, as a person would take longer.
        env.update({HOME_ENV: str(home.root), "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10"})
        yield from _crash(home, env, SCENARIOS[request.param])


def _crash(home, env, only):
    assert cli(home, "data", "--limit", "1000", env=env).returncode == 0
    port = processes.free_port()
    _up(home, env, port)
    try:
        run = subprocess.Popen(command("run", *SLICE), env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        lines = []
        for line in run.stdout:
            lines.append(line)
            if re.search(r"Trainer\s+running", line):
                break
        crashed = re.search(r"triggered (\S+) on the scheduler", "".join(lines)).group(1)
        outside = _kill(home, only)
        run.kill()
        run.wait()
        _, survivors = psutil.wait_procs(outside, timeout=10)
        if only:
            assert cli(home, "airflow", "down", env=env).returncode == 0
        left = processes.home_processes(home, in_process_runs=True)
        before_up = cli_json(home, "runs", env=env)
        time.sleep(12)
        up_again = _up(home, env, port)
        started = time.monotonic()
        resume = subprocess.Popen(command("resume"), env=env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        resume_lines, first_step_after = [], None
        for line in resume.stdout:
            resume_lines.append(line)
            if first_step_after is None and re.search(r"prepare_data\s+(running|COMPLETE)", line):
                first_step_after = time.monotonic() - started
        resume.wait(timeout=1800)
        print("".join(lines), up_again, "".join(resume_lines))
        yield {"home": home, "env": env, "crashed": crashed, "outside": outside, "survivors": survivors,
               "left": left, "before_up": before_up, "up_again": up_again, "resume_code": resume.returncode,
               "resume": "".join(resume_lines), "first_step_after": first_step_after}
    finally:
        cli(home, "airflow", "down", env=env)


def test_the_orphaned_task_stops_and_no_process_of_the_home_survives(crash):
    assert [p.pid for p in crash["outside"]], "the Trainer's task process should have been outside the groups"
    assert crash["survivors"] == [] and crash["left"] == []


def test_up_again_reports_the_interrupted_run_and_closes_it(crash):
    assert f"closed run {crash['crashed']}: Airflow's processes died while it ran (interrupted at Trainer" \
        in crash["up_again"]
    # Closed before the new scheduler started: it never ran the Trainer again in the crashed run.
    tries = crash["home"].airflow_home / "logs" / "dag_id=mnist_pipeline" / f"run_id={crash['crashed']}" / \
        "task_id=Trainer"
    assert sorted(p.name for p in tries.iterdir()) == ["attempt=1.log"]
    runs = {r["run_id"]: r for r in cli_json(crash["home"], "runs", env=crash["env"])}
    assert runs[crash["crashed"]]["state"] == "INTERRUPTED"
    assert {r["run_id"]: r["state"] for r in crash["before_up"]}[crash["crashed"]] != "COMPLETE"


def test_resume_starts_at_once_and_completes_from_the_cache(crash):
    assert crash["resume_code"] == 0, crash["resume"]
    assert crash["first_step_after"] is not None and crash["first_step_after"] < 30, crash["resume"]
    for step in UPSTREAM:
        assert re.search(rf"{step}\s+CACHED", crash["resume"]), step
    assert re.search(r"Trainer\s+COMPLETE", crash["resume"])


def test_one_trainer_completes_and_one_model_is_pushed(crash):
    home = crash["home"]
    store = open_store(home)
    trainers = [r for r in run_ids(store) if component_runs(store, r).get("Trainer")
                and component_runs(store, r)["Trainer"].state == "COMPLETE"]
    assert len(trainers) == 1, trainers
    crashed = component_runs(store, crash["crashed"])
    assert crashed["Trainer"].state == "CANCELED" and "Pusher" not in crashed
    pushed = [p for p in home.serving_dir(load_config(home=home)).iterdir() if p.name.isdigit()]
    assert len(pushed) == 1
