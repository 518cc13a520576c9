"""One in-process run at a time per home, enforced by a lock that the live run holds.

`mnist-pipeline run` (in-process) takes an exclusive `flock` on `<home>/run.lock` and hands the
open file to its Airflow process, so the lock lives exactly as long as some process of the run
does: the kernel drops it when the last of them exits, however it ends (Ctrl-C, `kill -9`, a
crash). A second run on the same home is refused at once, naming the run that holds the lock.

The lock is also how a run tells a dead run's executions from a live one's: executions left
RUNNING in the metadata store are closed (`mlmd.close_orphans`) only when no live process
holds the lock, or when the process that closes them belongs to the run holding it.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import time
import uuid
from typing import IO

from pipeline.home import Home

# Set in every process of the run holding the lock: the token written into the lock file.
TOKEN_ENV = "MNIST_PIPELINE_RUN_LOCK"
# How long to wait for the lock when the run holding it has lost its own process.
DYING_WAIT = 15.0


class RunInProgress(RuntimeError):
    """Another run holds the home's lock; the message names it."""


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _read(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except ValueError:
        return {}


def refusal(home: Home, holder: dict) -> str:
    """Why a run cannot start, naming the run in progress."""
    run = f"run {holder['run_id']}" if holder.get("run_id") else "a run (not yet named by Airflow)"
    return (f"another run is in progress on {home.root}: {run}, started {holder.get('started', '?')} by process "
            f"{holder.get('pid', '?')}. One run at a time per home: wait for it to end, or stop it (Ctrl-C in "
            f"its terminal, or kill -INT {holder.get('pid', 'PID')})")


class HomeLock:
    """The home's run lock, held from `acquire` until `release` (or this process tree ends)."""

    def __init__(self, home: Home):
        self.home = home
        self.token = uuid.uuid4().hex
        self._handle: IO[str] | None = None
        self._info: dict = {}

    def acquire(self) -> HomeLock:
        self.home.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.home.run_lock, "a+")  # noqa: SIM115 - held (and the lock with it) until release()
        deadline = time.monotonic() + DYING_WAIT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read(handle)
                # The run's own process is gone: its Airflow process is being killed with it
                # (`processes.start_attached`) and drops the lock in a moment.
                if not _alive(holder.get("pid")) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                handle.close()
                raise RunInProgress(refusal(self.home, holder)) from None
        self._handle = handle
        self._info = {"pid": os.getpid(), "token": self.token,
                      "started": datetime.datetime.now().isoformat(timespec="seconds")}
        self._write()
        return self

    def name_run(self, run_id: str) -> None:
        """Record the run id once Airflow has named the run, for the refusal message."""
        if self._handle and self._info.get("run_id") != run_id:
            self._info["run_id"] = run_id
            self._write()

    def _write(self) -> None:
        handle = self._held()
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(self._info))
        handle.flush()

    @property
    def fd(self) -> int:
        """The locked file's descriptor: a child process given it (`pass_fds`) holds the lock too."""
        return self._held().fileno()

    def _held(self) -> IO[str]:
        assert self._handle is not None, "the lock is not held: acquire() first"
        return self._handle

    def release(self) -> None:
        if self._handle:
            self._handle.close()  # the kernel releases the lock when every holder has closed it
            self._handle = None

    def __enter__(self) -> HomeLock:
        return self.acquire()

    def __exit__(self, *_) -> None:
        self.release()


def holder(home: Home) -> dict | None:
    """What the live run holding the home's lock wrote, or None when no live process holds it."""
    path = home.run_lock
    if not path.is_file():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def live_run_elsewhere(home: Home) -> dict | None:
    """The live run holding the lock, unless this process belongs to it (by its token)."""
    found = holder(home)
    if found is not None and found.get("token") and found.get("token") == os.environ.get(TOKEN_ENV):
        return None
    return found
