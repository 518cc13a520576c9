"""`make bench`, a run's fixed cost stage by stage, against T: the time a fresh process takes to
import TFX's launcher, a floor that no TFX task can beat (issue 29). Absolute times on these
shared machines move by 1.5-2x from one day to the next; ratios to T measured in the same
benchmark run do not.

From one run's own records: when its first TFX component started (MLMD's execution start, against
the wall clock when `run` was typed), each task's time and memory (its progress events, in the
home's run log: in-process, each task has a process of its own), the Trainer's epochs (its epoch
lines), and so its fixed cost: the run's wall time less the epochs.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from pipeline.orchestration.progress import PROGRESS_MARKER

TRAINING = {"Trainer"}
# The Trainer's epoch line ends with its time, "(31.2 s)" (components/training.py, EpochLog).
EPOCH_SECONDS = re.compile(r"epoch \d+/\d+ .*?\((\d+(?:\.\d+)?) s\)")


def tfx_import_seconds(env: dict, runs: int = 3) -> dict:
    """T: importing TFX's launcher in a fresh process, `runs` times; median, min, max."""
    times = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", "import time; t = time.perf_counter(); "
             "import tfx.orchestration.portable.launcher; print(time.perf_counter() - t)"],
            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        times.append(float(result.stdout.split()[-1]))
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": runs}


def task_events(log_text: str) -> dict[str, dict]:
    """Each task's progress events in a run's log, by node: its started event's fields (its pid)
    updated with its finished (or failed) event's (its time and memory)."""
    events: dict[str, dict] = {}
    for line in log_text.splitlines():
        at = line.find(PROGRESS_MARKER)
        if at >= 0:
            event = json.loads(line[at + len(PROGRESS_MARKER):])
            events.setdefault(event["node"], {}).update(event)
    return {node: event for node, event in events.items() if event["event"] in ("finished", "failed")}


def first_component_ms(summary) -> int:
    """When a run's first TFX component started (MLMD's execution start, ms since the epoch)."""
    return min(c.started_ms for c in summary.components.values())


def epoch_seconds(output: str) -> list[float]:
    return [float(m.group(1)) for m in EPOCH_SECONDS.finditer(output)]


def run_stages(wall_seconds: float, typed_at: float, summary, output: str, log_text: str,
               peak_uss_mb_by_pid: dict[int, float]) -> dict:
    """One run's stages: `typed_at` is the wall clock (time.time()) when `run` was started,
    `output` what `run` printed, `log_text` the run's full log (the home's logs/run-*.log), and
    `peak_uss_mb_by_pid` each process's private memory at its most, as polled from outside: a
    task's own event gives its private memory when it ends, which may be less."""
    first_ms = first_component_ms(summary)
    epochs = epoch_seconds(output)
    events = task_events(log_text)
    trainer = summary.components.get("Trainer")
    memory = {node: {"rss": e["peak_rss_mb"], "uss": max(e["private_mb"], peak_uss_mb_by_pid.get(e.get("pid"), 0))}
              for node, e in events.items() if "private_mb" in e}
    not_training = [m["uss"] for node, m in memory.items() if node not in TRAINING]
    return {
        "first_component_seconds": first_ms / 1000 - typed_at,
        "tasks_seconds": {node: e["seconds"] for node, e in events.items()},
        "epochs_seconds": sum(epochs),
        "epochs": epochs,
        "trainer_outside_epochs_seconds": (trainer.seconds - sum(epochs)) if trainer else None,
        "fixed_cost_seconds": wall_seconds - sum(epochs),
        "fixed_cost_ratio": (wall_seconds - sum(epochs)) / sum(epochs) if epochs else None,
        "task_memory_mb": memory,
        "not_training_task_peak_uss_mb": max(not_training) if not_training else None,
    }


def latest_run_log(home) -> str:
    logs = sorted(Path(home.logs).glob("run-*.log"))
    return logs[-1].read_text(errors="replace") if logs else ""
