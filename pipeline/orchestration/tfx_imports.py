"""What the tasks' own code imports before its work starts: TFX's launcher (and through it
TensorFlow, Beam, TF Model Analysis and every standard component's executor) and TFX's
components and compiler, which `prepare_data` compiles the run's pipeline with.

Imported once by whatever forks the task processes, so that each task starts with them loaded
(copy-on-write): the scheduler's forkserver and each Celery worker through `task_imports`, the
in-process run's task host (`task_host`) directly. It only loads modules: it starts no threads and
opens no files or connections, which would not survive the fork. It loads third-party modules
only: the project's own code (pipeline/, components/) is imported by each task from the files as
they are now, so a code update needs no restart of `airflow up`; an upgrade of TFX or TensorFlow does.
"""
from components import tf_env

tf_env.configure()

import tensorflow  # noqa: E402,F401  (first, with the legacy-Keras switch set above)
import tfx.components  # noqa: E402,F401  (the launcher imports nearly all of it too: 5 modules, 2 ms, more)
from tfx.dsl.compiler import compiler  # noqa: E402,F401
from tfx.orchestration import metadata  # noqa: E402,F401
from tfx.orchestration.local import runner_utils  # noqa: E402,F401
from tfx.orchestration.portable import launcher, runtime_parameter_utils  # noqa: E402,F401
