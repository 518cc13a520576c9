"""Process-wide settings that the stack needs, applied before TensorFlow is imported.

TF 2.16 makes Keras 3 the default `tf.keras`, but TFX 1.16, TF Transform and TF Model Analysis
are built on Keras 2: `TF_USE_LEGACY_KERAS=1` switches `tf.keras` to tf-keras. It only works if
set before the first `import tensorflow`, so every entry point (CLI, DAG file, tests) imports
this package first.
"""
import os
import warnings

_DEFAULTS = {
    "TF_USE_LEGACY_KERAS": "1",
    # TensorFlow's C++ INFO lines (CPU feature banners, oneDNN notices) drown the task logs.
    "TF_CPP_MIN_LOG_LEVEL": "1",
    # google-api-core warns on every import that Python 3.11 support ends in 2027; TFX pulls it
    # in dozens of times. A prefix match, so it silences nothing else.
    "PYTHONWARNINGS": "ignore:You are using a Python version:FutureWarning",
}


def configure() -> None:
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)


def quiet_tensorflow() -> None:
    """For a process that reads results with TensorFlow but runs nothing: no import chatter."""
    import logging

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in ("tensorflow", "absl", "apache_beam"):
        logging.getLogger(name).setLevel(logging.ERROR)


def airflow_environment(home, executor: str | None = None) -> dict[str, str]:
    """The environment for Airflow processes working on `home` (a `pipeline.config.Home`).

    Airflow keeps its config and logs under <home>/airflow and reads the DAG from this package's
    `dags/` folder; its database and executor come from the home's profile (`AirflowProfile`):
    SQLite and the LocalExecutor, one task at a time, by default; PostgreSQL and the Local or
    CeleryExecutor in production. `executor` (local, celery) overrides the profile's. Settings
    marked "default" below yield to the same AIRFLOW__... variable in the caller's environment.
    """
    from dags import DAGS_FOLDER
    from pipeline.config import EXECUTORS, HOME_ENV, AirflowProfile, load_profile

    profile = load_profile(home)
    if executor:
        profile = AirflowProfile(database=profile.database, executor=executor, broker=profile.broker)
    env = dict(os.environ)
    env.update({
        HOME_ENV: str(home.root),
        "AIRFLOW_HOME": str(home.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": profile.sql_alchemy_conn(home),
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[profile.default_executor],
        # Logins with users and roles, managed in Airflow's own database (see README: logins).
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    })
    defaults = {
        "AIRFLOW__CORE__PARALLELISM": "1" if not profile.database else "2",
        # Only served if someone enables it: then on this machine only, as everything else.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
    }
    if profile.database:
        defaults.update({
            # A task whose worker was killed (OOM, machine lost) is tried once more; the first
            # attempt's finished upstream results stay in MLMD.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "30",
        })
    if profile.default_executor == "celery":
        # Several homes may share one broker: each home's tasks go to its own queue.
        defaults.update({"AIRFLOW__CELERY__BROKER_URL": profile.broker,
                         "AIRFLOW__OPERATORS__DEFAULT_QUEUE": celery_queue(home),
                         "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                         # Workers import TFX once, before forking their pool (pipeline.task_imports).
                         "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG})
    else:
        # The LocalExecutor's workers come from a forkserver that imported TFX once: a task
        # starts in well under a second instead of importing it for 6 s (pipeline.task_imports).
        defaults.update({"AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
                         "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": TASK_IMPORTS})
    for key, value in {**_DEFAULTS, **defaults}.items():
        env.setdefault(key, value)
    return env


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
TASK_IMPORTS = "pipeline.task_imports"
CELERY_CONFIG = "pipeline.celery_config.CELERY_CONFIG"


def api_server_settings(port: int) -> dict[str, str]:
    """Where the API server listens (this machine only), and where task processes reach it: in
    Airflow 3 tasks report to the API server's execution API, not to the database."""
    url = f"http://127.0.0.1:{port}"
    return {"AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/"}


def celery_queue(home) -> str:
    """The Celery queue of a home's tasks, named after the home's folder."""
    import hashlib

    return "mnist-" + hashlib.sha1(str(home.root).encode()).hexdigest()[:10]
