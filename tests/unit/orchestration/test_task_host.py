"""`pipeline.orchestration.task_host`: an in-process run's tasks each in a process forked from a
warm host. A real host, forked by a script as `airflow_main` does (with a light preload here)."""
import json
import subprocess
import sys

SCRIPT = """
import gc, json, os, signal, sys, types
from pipeline.orchestration import task_host

def where(**context):
    return {"pid": os.getpid(), "parent": os.getppid(), "run_id": context["run_id"], "node_id": context["node_id"],
            "conf": context["dag_run"].conf, "partition_key": context["dag_run"].partition_key,
            "unportable": "ti" in context, "inherited_frozen": gc.get_freeze_count() > 0}

def fails(**context):
    raise ValueError("the data set has no span 7")

def dies(**context):
    os.kill(os.getpid(), signal.SIGKILL)

def unserializable(**context):
    return object()

task_host.start(preload=("json",))
context = {"run_id": "manual__1", "node_id": "Trainer", "ti": object(),
           "dag_run": types.SimpleNamespace(conf={"epochs": 1}, partition_key="3")}
outcomes = {"me": os.getpid(), "where": task_host.in_task_process(where)(**context),
            "again": task_host.in_task_process(where)(**context)}
for function in (fails, dies, unserializable):
    try:
        task_host.in_task_process(function)(**context)
    except task_host.TaskProcessError as err:
        outcomes[function.__name__] = str(err)
print(json.dumps(outcomes))
"""


def test_each_task_runs_in_its_own_process_of_the_host_and_its_failures_come_back_as_errors():
    result = subprocess.run([sys.executable, "-c", SCRIPT], text=True, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout.splitlines()[-1])
    where, again = outcomes["where"], outcomes["again"]
    # A process of its own each time, forked from the host (not from the caller itself).
    assert outcomes["me"] not in (where["pid"], where["parent"]) and where["pid"] != again["pid"]
    assert where["parent"] == again["parent"]
    # What the task functions read of Airflow's context arrives; Airflow's objects do not.
    assert where["run_id"] == "manual__1" and where["node_id"] == "Trainer"
    assert where["conf"] == {"epochs": 1} and where["partition_key"] == "3" and not where["unportable"]
    assert where["inherited_frozen"]  # the host's objects stay out of the task's collections (gc.freeze)
    assert outcomes["fails"] == "ValueError: the data set has no span 7"
    assert outcomes["dies"] == "the task's process was killed by SIGKILL"
    assert "not plain data" in outcomes["unserializable"]
    # The failing task's traceback is in the log, where Airflow's would have been.
    assert "Traceback" in result.stdout and "ValueError: the data set has no span 7" in result.stdout


def test_without_a_host_the_task_runs_where_it_is_called():
    from pipeline.orchestration import task_host

    assert task_host.in_task_process(lambda **context: context["run_id"])(run_id="r") == "r"
