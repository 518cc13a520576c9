"""`make bench`, the scheduler path: what runs triggered as in the Airflow UI cost.

On `mnist-pipeline airflow up` with the LocalExecutor on a fresh PostgreSQL database, MLMD on a
fresh MariaDB database, a fresh home:
- the first run, and then fully cached runs, each from trigger to success: the DAG run's
  `queued_at` (set when it is triggered) to its `end_date`, as the REST API reports them;
- each task's fixed cost, from its process starting to its node's work starting, as the task
  reports it in its `started` progress event (`pipeline.orchestration.progress.progress`), by node over all runs;
- each task's peak memory: resident (RSS, counting the pages it shares with the worker it was
  forked from), as the task reports it from the kernel's high-water mark, and private (USS: what
  it alone holds), the larger of what the task reports at its end and what is polled from
  outside by the pid it reports (every 2 s: reading it costs 15 ms a process).
"""
from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import psutil

from bench.stages import TRAINING, first_component_ms
from bench.stats import spread, weights_digest
from pipeline.home import HOME_ENV, Home
from pipeline.metadata.runs import summarize_run
from pipeline.orchestration.airflow_dag import DAG_ID
from pipeline.orchestration.progress import PROGRESS_MARKER
from pipeline.services import lifecycle, processes
from pipeline.services.airflow_api import Api, log_lines, trigger
from pipeline.services.profiles import AIRFLOW_DB_ENV
from tests.support.local_databases import mariadb_store, postgres_database


class MemoryWatcher(threading.Thread):
    """Peak RSS and USS of every process below `root`, by pid. RSS is cheap to read and polled
    every `interval` seconds; USS reads /proc/<pid>/smaps_rollup (15 ms for a process that loaded
    TensorFlow), so it is polled every `uss_interval` seconds only, not to slow the run it watches."""

    def __init__(self, root: int, interval: float = 0.5, uss_interval: float = 2.0):
        super().__init__(daemon=True)
        self.root, self.interval, self.uss_every = root, interval, max(1, round(uss_interval / interval))
        self.peaks: dict[int, tuple[int, int]] = {}
        self._done = threading.Event()

    def run(self) -> None:
        for tick in itertools.count():
            if self._done.is_set():
                return
            try:
                tree = psutil.Process(self.root).children(recursive=True)
            except psutil.Error:
                tree = []
            for process in tree:
                try:
                    rss = process.memory_info().rss
                    uss = process.memory_full_info().uss if tick % self.uss_every == 0 else 0
                except psutil.Error:
                    continue
                peak_rss, peak_uss = self.peaks.get(process.pid, (0, 0))
                self.peaks[process.pid] = (max(peak_rss, rss), max(peak_uss, uss))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _cli(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"mnist-pipeline {' '.join(args)} failed:\n{result.stdout[-3000:]}")
    return result.stdout


def _when(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def timed_run(api: Api, conf: dict) -> dict:
    """Trigger a run, wait for it to end; its trigger-to-end seconds and each task's started event."""
    run_id = trigger(api, DAG_ID, conf)
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}"
    while (run := api.get(path))["state"] not in ("success", "failed"):
        time.sleep(1)
    tasks = {}
    for ti in api.get(f"{path}/taskInstances", params={"limit": 100})["task_instances"]:
        events = {}
        for line in log_lines(api, DAG_ID, run_id, ti["task_id"], max(ti["try_number"], 1)):
            if PROGRESS_MARKER in line:
                event = json.loads(line[line.index(PROGRESS_MARKER) + len(PROGRESS_MARKER):])
                events.update({k: event[k] for k in ("pid", "process_seconds", "peak_rss_mb", "private_mb")
                               if k in event})
        tasks[ti["task_id"]] = {"state": ti["state"], **events}
    return {"run_id": run_id, "state": run["state"], "tasks": tasks, "queued_at": _when(run["queued_at"]).timestamp(),
            "seconds": (_when(run["end_date"]) - _when(run["queued_at"])).total_seconds()}


def scheduler_figures(work: Path, conf: dict, cached_runs: int = 3) -> dict:
    home = Home(work / "scheduler-home")
    with postgres_database() as database, mariadb_store() as store:
        env = {**os.environ, HOME_ENV: str(home.root), AIRFLOW_DB_ENV: database, **store}
        _cli(env, "data")
        port = processes.free_port()
        up = _cli(env, "airflow", "up", "--executor", "local", "--port", str(port))
        password = re.search(r"login:\s+admin / (\S+)", up).group(1)
        try:
            api = Api(f"http://127.0.0.1:{port}", "admin", password)
            watcher = MemoryWatcher(lifecycle.read_state(home)["processes"]["scheduler"])
            watcher.start()
            try:
                runs = [timed_run(api, conf)]
                runs += [timed_run(api, conf) for _ in range(cached_runs)]
            finally:
                watcher.stop()
            # The first run's components as MLMD timed them: what is left is orchestration.
            with mock.patch.dict(os.environ, store):
                first = summarize_run(home, runs[0]["run_id"])
                later_first_components = [first_component_ms(summarize_run(home, r["run_id"])) / 1000 - r["queued_at"]
                                          for r in runs[1:]]
        finally:
            _cli(env, "airflow", "down")
    failed = [r["run_id"] for r in runs if r["state"] != "success"]
    if failed:
        raise RuntimeError(f"runs on the scheduler failed: {failed}; logs in {home.airflow_home / 'logs'}")

    overhead: dict[str, list[float]] = {}
    memory: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        for task, info in run["tasks"].items():
            if "process_seconds" in info:
                overhead.setdefault(task, []).append(info["process_seconds"])
            if "peak_rss_mb" in info:  # exact, from the kernel; USS: the most seen or reported
                uss = max(watcher.peaks.get(info.get("pid"), (0, 0))[1] / 2**20, info["private_mb"])
                memory.setdefault(task, []).append((info["peak_rss_mb"], uss))
    not_training = [m for task, ms in memory.items() if task not in TRAINING for m in ms]
    components = {c.node_id: round(c.seconds, 1) for c in first.components.values()}
    return {
        "first_run_seconds": runs[0]["seconds"],
        # From the trigger (the REST call `run` makes) to the first TFX component's start in MLMD.
        "first_component_seconds": first_component_ms(first) / 1000 - runs[0]["queued_at"],
        # The same in the later runs: the first run after `airflow up` also waits for the
        # scheduler's forkserver to import TFX (once), as a home's first in-process run creates
        # Airflow's database.
        "later_runs_first_component_seconds": spread(later_first_components),
        "first_run_accuracy": first.accuracy,
        "first_run_weights_digest": weights_digest(first),
        "first_run_components_seconds": components,
        "first_run_outside_components_seconds": runs[0]["seconds"] - sum(components.values()),
        "cached_run_seconds": spread([r["seconds"] for r in runs[1:]]),
        "task_overhead_seconds": spread([s for values in overhead.values() for s in values]),
        "task_overhead_by_node": {task: spread(values) for task, values in overhead.items()},
        "task_peak_mb_by_node": {task: {"rss": max(m[0] for m in ms), "uss": max(m[1] for m in ms)}
                                 for task, ms in memory.items()},
        "not_training_task_peak_rss_mb": max(m[0] for m in not_training),
        "not_training_task_peak_uss_mb": max(m[1] for m in not_training),
    }
