"""What every task of the DAG imports before its work starts, loaded once per task worker.

Importing TFX's launcher imports TensorFlow, Beam, TF Model Analysis and every standard
component's executor: about 6 s and 800 MB on this machine, in every task; Airflow's own worker
and task-runner modules add about 1 s more. Airflow can import
modules once in a parent process and fork task processes from it, which then start with them
loaded (copy-on-write):
- LocalExecutor: the scheduler's `forkserver` preloads this module ([scheduler] mp_start_method
  and mp_forkserver_preload, set by `pipeline.services.environment.airflow_environment`);
- CeleryExecutor: each Celery worker imports it before it forks its pool
  (`pipeline.orchestration.celery_config`).
The TFX part is `tfx_imports`, which the in-process run's task host imports alone (`task_host`).

What is imported is then left out of the garbage collector's passes (`gc.freeze`, in the task
host too). A collection in a task process visits every object it tracks and writes to each one's
header, so without it a task soon holds a private copy of most pages of the modules it inherited:
measured in-process (2026-12-07), the Trainer's peak private memory fell by about 100 MB (full
data, one epoch) and the Evaluator's from 400 to 270 MB (full runs, docs/benchmark.md).
"""
import gc

# What a LocalExecutor worker runs (a new worker starts at once, so two tasks can start together),
# and what each task process runs before calling the task; with what the DAG file imports of
# Airflow when each task process parses it (the operators: 36 ms a task otherwise).
from airflow.executors import local_executor  # noqa: F401
from airflow.providers.standard.operators import hitl, python  # noqa: F401
from airflow.sdk.execution_time import supervisor, task_runner  # noqa: F401

from pipeline.orchestration import tfx_imports  # noqa: F401

gc.freeze()
