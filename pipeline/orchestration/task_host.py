"""The tasks of an in-process run, each in a process forked from a warm host that imported TFX
while Airflow was starting.

`airflow dags test` (an in-process `mnist-pipeline run`) runs its tasks one after another inside
its own process. Left alone, that process first starts Airflow (its import, the DAG run, the
in-process execution API: about one TFX import's time), and only then imports TFX in the first
task: on two cores, one of them idles through each. So `airflow_main` forks this host before it
imports Airflow: the host imports what the tasks need (`tfx_imports`, the TFX part of what the scheduler's
forkserver preloads, and the project's task code: `PRELOAD`) on the other core, then forks one process
per task, as the LocalExecutor's forkserver does. The first component then starts about one TFX import
after `run`, not two. What the host imported is frozen out of the garbage collector's passes
(`gc.freeze`, as Airflow's LocalExecutor does before it forks), so the tasks do not copy its pages.

What a task process does is the task's own function (`airflow_dag`), given the part of Airflow's
context it reads (run id, the DAG run's conf and partition key, the operator's arguments): its
output goes to the run's log as before, its progress events too, and its return value or error
back to Airflow, which records the task as it would have. Each task's memory is its own and is
freed when it ends: a run no longer holds Transform's, the Trainer's and the Evaluator's together.

The host leaves when `airflow dags test` closes its end of the socket or dies (parent-death
signal); a task process whose host or run dies stops within a second (`supervision`).
"""
from __future__ import annotations

import ctypes
import functools
import gc
import importlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import traceback
import types
from collections.abc import Callable
from typing import Any

# The host's end of the socket, in the `airflow dags test` process that forked it; None elsewhere.
_host: socket.socket | None = None

# TensorFlow's C++ side prints these while it is imported, at ERROR level, on every machine
# without a GPU: three plugins registering twice. They are not errors of the run.
_IMPORT_NOISE = ("Unable to register cuDNN factory", "Unable to register cuFFT factory",
                 "Unable to register cuBLAS factory")


# What the host imports before its first task: TFX, then the project's task code, which each task
# process would otherwise import on its own (0.05 s for the tasks' module, a few ms for each other;
# more where Python writes no bytecode cache). The host lives for one run, so every task runs the
# code as it was when the run started.
PRELOAD = ("pipeline.orchestration.tfx_imports", "pipeline.orchestration.airflow_dag",
           # what every node's launch imports (runner.run_node), and the project's executors
           "pipeline.storage.staging", "pipeline.storage.tfx_fileio", "pipeline.orchestration.beam_runner",
           "pipeline.metadata.records", "pipeline.services.home_lock", "components.data_gate",
           "components.spans", "components.baseline", "components.tuner", "components.trainer",
           "components.evaluator")


def start(preload: tuple[str, ...] = PRELOAD) -> None:
    """Fork the host (in `airflow dags test`, before Airflow is imported); it imports `preload`."""
    global _host
    ours, theirs = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        ours.close()
        _serve(theirs, preload)  # never returns
    theirs.close()
    _host = ours


def in_task_process(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a task's callable, taking Airflow's context as keyword arguments) run in a task
    process of the host when this process has one, else here (on a scheduler's worker)."""

    @functools.wraps(function)
    def call(**context: Any) -> Any:
        if _host is None:
            return function(**context)
        return _call(f"{function.__module__}:{function.__qualname__}", _portable(context))

    return call


def _portable(context: dict[str, Any]) -> dict[str, Any]:
    """What the task functions read of Airflow's context: plain values, and the DAG run's conf
    and partition key."""
    kept: dict[str, Any] = {k: v for k, v in context.items() if isinstance(v, (str, int, float, bool)) or v is None}
    dag_run = context.get("dag_run")
    if dag_run is not None:
        kept["dag_run"] = {"conf": dict(dag_run.conf or {}), "partition_key": getattr(dag_run, "partition_key", None)}
    return kept


class TaskProcessError(RuntimeError):
    """A task failed in its process; the message is the error it raised there (its traceback is in
    the run's log above)."""


def _call(function: str, context: dict[str, Any]) -> Any:
    assert _host is not None
    _host.sendall(json.dumps({"function": function, "context": context}).encode() + b"\n")
    reply = _host.makefile("rb").readline()
    if not reply:
        raise TaskProcessError("the task host ended before the task did (see the run's log)")
    answer = json.loads(reply)
    if "error" in answer:
        raise TaskProcessError(answer["error"])
    return answer["result"]


def _serve(connection: socket.socket, preload: tuple[str, ...]) -> None:
    """The host: import what the tasks need, then run each request in a forked task process."""
    code = 0
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: gone with `airflow dags test`
        _log_like_airflow()  # what the imports log, too
        for module in preload:
            _import_quietly(module)
        gc.freeze()  # see task_imports: the tasks then copy none of the host's pages for the collector
        requests = connection.makefile("rb")
        while request := requests.readline():
            connection.sendall(json.dumps(_run_forked(json.loads(request))).encode() + b"\n")
    except BaseException:  # reported, and the host ends: `_call` then fails the task
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _import_quietly(module: str) -> None:
    """Import `module` with TensorFlow's import-time registration noise left out of stderr
    (everything else it prints there is passed on)."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(noise in line for noise in _IMPORT_NOISE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def _run_forked(request: dict[str, Any]) -> dict[str, Any]:
    """Run one task in a process forked from the host; its result or its error."""
    readable, writable = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        _task_process(request, writable)  # never returns
    os.close(writable)
    with os.fdopen(readable, "rb") as answer:
        reply = answer.read()
    _, status = os.waitpid(pid, 0)
    if reply:
        return json.loads(reply)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return {"error": f"the task's process was killed by {name}"}
    return {"error": f"the task's process ended with exit code {os.waitstatus_to_exitcode(status)} and no result"}


def _task_process(request: dict[str, Any], answer_fd: int) -> None:
    code = 0
    try:  # logging as the host set it up (`_log_like_airflow`), inherited through the fork
        module, name = request["function"].split(":")
        function = getattr(importlib.import_module(module), name)
        context = dict(request["context"])
        if "dag_run" in context:
            context["dag_run"] = types.SimpleNamespace(**context["dag_run"])
        answer: dict[str, Any] = {"result": function(**context)}
    except BaseException as err:  # every failure goes back to Airflow as the task's
        logging.getLogger(__name__).exception("the task failed")
        answer, code = {"error": f"{type(err).__name__}: {err}"}, 1
    try:
        payload = json.dumps(answer)
    except (TypeError, ValueError):
        payload, code = json.dumps({"error": f"the task returned {type(answer.get('result')).__name__}, "
                                             "which is not plain data"}), 1
    os.write(answer_fd, payload.encode())
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _log_like_airflow() -> None:
    """The task's log lines to stdout with their time, level and logger, as Airflow's own look in
    the run's log (Airflow's handlers live in the process that forked the host)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)-8s] %(message)s [%(name)s]"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
