"""A task process never outlives the Airflow processes that supervise it, and a step never runs
twice at once.

Airflow 3 forks each task from a supervisor (a LocalExecutor worker of the scheduler, or a Celery
worker's pool process) and puts it in a process group of its own. When the scheduler's host loses
its processes, the task is not in their process groups and goes on alone: it finishes, records
its result in MLMD while Airflow shows it as running, and a retry can then run beside it.

Why a watchdog thread and not Linux's parent-death signal alone: PR_SET_PDEATHSIG fires when the
parent *thread* that forked the child exits, and only for the direct parent, while what owns a
task is the whole chain up to the service Airflow started (the scheduler, a Celery worker).
`stop_with_supervisors` watches that chain, every process from the task's parent up to the leader
of its session (each service of `airflow up` and of compose is a session leader), and SIGKILLs the
task's own process group as soon as one of them is gone: nothing more is written to MLMD, and
`airflow up` then closes the run (`pipeline.services.lifecycle`). A task that leads its own session
(`airflow dags test`, the in-process run) has no chain to watch: its parent's death already kills
it (`pipeline.services.processes.start_attached`).
"""
from __future__ import annotations

import os
import signal
import socket
import threading

POLL_SECONDS = 1.0
_watching: set[int] = set()  # the pids of processes that started a watchdog (one per process)


def supervisors() -> list:
    """The processes that supervise this one: its parent and each ancestor up to and including
    the leader of this process's session (never init)."""
    import psutil

    chain: list = []
    session = os.getsid(0)
    if session == os.getpid():
        return chain
    for parent in psutil.Process().parents():
        if parent.pid == 1:
            break
        chain.append(parent)
        if parent.pid == session:
            break
    return chain


def stop_with_supervisors(poll: float = POLL_SECONDS) -> list[int]:
    """Start (once per process) a daemon thread that SIGKILLs this task, and what it started,
    when a process of `supervisors()` dies. Returns the pids it watches."""
    chain = supervisors()
    if not chain or os.getpid() in _watching:
        return [p.pid for p in chain]
    _watching.add(os.getpid())

    def watch() -> None:
        while all(_alive(p) for p in chain):
            threading.Event().wait(poll)
        if os.getpgrp() == os.getpid():  # the group is the task's own (Airflow's supervisor made it)
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="stop-with-supervisors", daemon=True).start()
    return [p.pid for p in chain]


def _alive(process) -> bool:
    """Running and not a zombie (`is_running` also compares the start time: no pid reuse)."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def process_tag() -> str:
    """This process as `host pid start-time`: enough to tell later whether it still runs."""
    import psutil

    return f"{socket.gethostname()} {os.getpid()} {psutil.Process().create_time():.2f}"


def tag_alive(tag: str) -> bool | None:
    """Whether the process of a `process_tag` still runs: None when it ran on another host (this
    one cannot tell), False for this process itself."""
    import psutil

    try:
        host, pid, started = tag.split()
    except ValueError:
        return False
    if host != socket.gethostname():
        return None
    if int(pid) == os.getpid():
        return False
    try:
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 0.1
    except psutil.Error:
        return False
