"""Progress events: each task prints one line per step on stdout, which `mnist-pipeline run`
reads to show what runs now, and how long each component took.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from components import tf_env
from pipeline.orchestration import supervision

# Lines that start with this are progress events for `mnist-pipeline run` to show.
PROGRESS_MARKER = "mnist-pipeline-progress:"


def _emit(event: str, **fields: Any) -> None:
    """One progress event on stdout, for `mnist-pipeline run` (pipeline/cli/run.py) to show."""
    print(PROGRESS_MARKER, json.dumps({"event": event, **fields}), flush=True)


def _process_age() -> dict[str, float]:
    """Seconds since this process started, from the kernel's own clock since boot (psutil's
    create_time adds the boot time, which /proc/stat rounds to the second: up to 1 s off)."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as uptime:
            age = float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):  # not Linux
        return {}
    return {"process_seconds": round(age, 2)}


@contextlib.contextmanager
def progress(node: str, run_id: str) -> Iterator[dict]:
    """Emit a task's start, and its end: finished (with the state set in the yielded dict)
    or failed (with the error). The start says how long the task's process took to get here
    (its fixed cost) and its pid, the end the process's memory: `make bench` collects them.
    Every task starts here: here it starts watching its supervisors (`supervision`), and sends
    TensorFlow's log through Airflow's (`tf_env.log_through_root`)."""
    supervision.stop_with_supervisors()
    tf_env.log_through_root()
    _emit("started", node=node, run_id=run_id, pid=os.getpid(), **_process_age())
    started = time.monotonic()
    outcome = {"state": "COMPLETE"}
    try:
        yield outcome
    except BaseException as err:
        _emit("failed", node=node, run_id=run_id, seconds=round(time.monotonic() - started, 1),
               error=f"{type(err).__name__}: {err}", **_memory())
        raise
    _emit("finished", node=node, run_id=run_id, seconds=round(time.monotonic() - started, 1), **outcome,
           **_memory())


def _memory() -> dict[str, float]:
    """This process's peak resident memory (VmHWM: in a forked task process it starts from what
    it shares with its parent) and its private memory now (what it alone holds), in MB."""
    try:
        with open("/proc/self/status") as status:
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open("/proc/self/smaps_rollup") as rollup:
            private_kb = sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:",
                                                                                         "Private_Dirty:")))
    except (OSError, StopIteration, ValueError):  # not Linux, or a kernel without these files
        return {}
    return {"peak_rss_mb": round(peak_kb / 1024), "private_mb": round(private_kb / 1024)}

