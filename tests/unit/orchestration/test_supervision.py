"""A task process dies with its supervisors, and a step refuses to run beside an earlier try of
itself (pipeline/orchestration/supervision.py, pipeline/orchestration/runner.py), on real processes."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from pipeline.metadata.records import record_run
from pipeline.metadata.store import PIPELINE_RUN_CONTEXT, connection_config, open_store
from pipeline.orchestration import supervision
from pipeline.orchestration.runner import _claim

# The "service" leads its session, as `airflow up` starts the scheduler; it forks a "supervisor",
# which forks the "task" into a process group of its own, as Airflow's supervisor does. The task
# starts the watchdog and a child of its own, then sleeps.
TREE = textwrap.dedent("""
    import os, subprocess, sys, time
    from pipeline.orchestration import supervision
    level = sys.argv[1]
    if level == "service":
        subprocess.Popen([sys.executable, "-c", sys.argv[2], "supervisor", sys.argv[2]])
    elif level == "supervisor":
        subprocess.Popen([sys.executable, "-c", sys.argv[2], "task", sys.argv[2]], process_group=0)
    else:
        watched = supervision.stop_with_supervisors(poll=0.1)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print(os.getpid(), child.pid, *watched, flush=True)
    time.sleep(120)
""")


def _tree():
    service = subprocess.Popen([sys.executable, "-c", TREE, "service", TREE], start_new_session=True,
                               stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    task, child, *watched = (int(pid) for pid in service.stdout.readline().split())
    return service, psutil.Process(task), psutil.Process(child), watched


def _gone(process: psutil.Process, timeout: float = 5) -> bool:
    """Dead: reaped, or a zombie that its parent has not reaped yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("victim", ["service", "supervisor"])
def test_a_task_and_its_children_die_when_a_supervisor_dies(victim):
    service, task, child, watched = _tree()
    try:
        supervisor = task.parent()
        assert watched == [supervisor.pid, service.pid]  # up to the session's leader, not beyond
        time.sleep(0.5)
        assert task.is_running() and child.is_running()  # nothing happens while the chain lives
        os.kill(service.pid if victim == "service" else supervisor.pid, signal.SIGKILL)
        assert _gone(task) and _gone(child)
    finally:
        for process in (psutil.Process(service.pid), task, child):
            for member in [process, *process.children(recursive=True)] if process.is_running() else []:
                member.kill()


def test_a_session_leader_watches_nothing():
    code = "from pipeline.orchestration import supervision; print(supervision.stop_with_supervisors())"
    out = subprocess.run([sys.executable, "-c", code], start_new_session=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_process_tag_tells_whether_its_process_still_runs():
    sleeper = subprocess.Popen([sys.executable, "-c", "from pipeline.orchestration import supervision; "
                                "print(supervision.process_tag(), flush=True); import time; time.sleep(60)"],
                               stdout=subprocess.PIPE, text=True)
    tag = sleeper.stdout.readline().strip()
    assert supervision.tag_alive(tag) is True
    sleeper.kill()
    sleeper.wait()
    assert supervision.tag_alive(tag) is False
    assert supervision.tag_alive(supervision.process_tag()) is False  # this process is no other try
    host, pid, started = supervision.process_tag().split()
    assert supervision.tag_alive(f"another-{host} {pid} {started}") is None  # cannot tell from here


def test_a_step_does_not_start_beside_a_live_earlier_try_of_itself(home):
    home.root.mkdir(parents=True)
    record_run(home, "manual__1", {})
    connection = connection_config(home)
    earlier = subprocess.Popen([sys.executable, "-c", "from pipeline.orchestration import supervision; "
                                "print(supervision.process_tag(), flush=True); import time; time.sleep(60)"],
                               stdout=subprocess.PIPE, text=True)
    try:
        store = open_store(home)
        context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, "manual__1")
        context.custom_properties["task Trainer"].string_value = earlier.stdout.readline().strip()
        store.put_contexts([context])
        with pytest.raises(RuntimeError, match=r"an earlier try of Trainer in run manual__1 still runs \(process "
                                               rf"{earlier.pid} on this host\)"):
            _claim(connection, "manual__1", "Trainer")
        _claim(connection, "manual__1", "Evaluator")  # another step is not held
    finally:
        earlier.kill()
        earlier.wait()
    _claim(connection, "manual__1", "Trainer")  # the earlier try is gone: this one takes the step
    context = open_store(home).get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, "manual__1")
    assert context.custom_properties["task Trainer"].string_value == supervision.process_tag()
    assert "config" in context.custom_properties  # the run's own record is kept
