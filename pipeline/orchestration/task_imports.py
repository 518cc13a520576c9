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
Importing it only loads modules: it starts no threads and opens no files or connections, which
would not survive the fork. It loads third-party modules only: the project's own code (pipeline/,
components/) is imported by each task from the files as they are now, so a code update needs no
restart of `airflow up`; an upgrade of TFX or TensorFlow does.
"""
from components import tf_env

tf_env.configure()

import tensorflow  # noqa: E402,F401  (first, with the legacy-Keras switch set above)

# What a LocalExecutor worker runs (a new worker starts at once, so two tasks can start together),
# and what each task process runs before calling the task.
from airflow.executors import local_executor  # noqa: E402,F401
from airflow.sdk.execution_time import supervisor, task_runner  # noqa: E402,F401
from tfx.dsl.compiler import compiler  # noqa: E402,F401  (prepare_data compiles the run's pipeline)
from tfx.orchestration import metadata  # noqa: E402,F401
from tfx.orchestration.local import runner_utils  # noqa: E402,F401
from tfx.orchestration.portable import launcher, runtime_parameter_utils  # noqa: E402,F401
