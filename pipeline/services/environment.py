"""The environment of Airflow processes: the stack's settings (`components.tf_env`) plus where
Airflow keeps its home, database, DAGs and executor for a given home."""
import dataclasses
import hashlib
import os
import socket

from components import tf_env
from dags import DAGS_FOLDER
from pipeline.home import HOME_ENV
from pipeline.services.profiles import EXECUTORS, AirflowProfile, load_profile


def airflow_environment(home, executor: str | None = None) -> dict[str, str]:
    """The environment for Airflow processes working on `home` (a `pipeline.home.Home`).

    Airflow keeps its config and logs under <home>/airflow and reads the DAG from this package's
    `dags/` folder; its database and executor come from the home's profile (`AirflowProfile`):
    SQLite and the LocalExecutor, one task at a time, by default; PostgreSQL and the Local or
    CeleryExecutor in production. `executor` (local, celery) overrides the profile's. Settings
    marked "default" below yield to the same AIRFLOW__... variable in the caller's environment.
    """

    profile = load_profile(home)
    if executor:
        profile = dataclasses.replace(profile, executor=executor)
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
        # A task's supervisor sees its task process end at its next wake-up, at most this many
        # seconds later. A TFX task process often outlives its closed log sockets for a moment
        # (more so on a busy machine), and with Airflow's 5 its executor slot then idles 5 s after
        # the task: measured with both cores busy, a cached run took 56 s with 5 and 34 s with 1.
        # The cost: a task heartbeats the API server once a second instead of every 5 s.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # The scheduler sleeps this long after a loop that found nothing to do, as it does while a
        # task runs: the next task waits for its wake-up. Measured on the quick slice (2026-12-07,
        # LocalExecutor, PostgreSQL): a fully cached run took 16.6 s with Airflow's 1 s, 6.0 s with
        # 0.25 and 5.9 s with 0.1. The cost: an idle scheduler uses 5 % of a core (1.4 % with 1 s,
        # 12.7 % with 0.1).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
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
                         "AIRFLOW__OPERATORS__DEFAULT_QUEUE": celery_queue(home, profile),
                         "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                         # Workers import TFX once, before forking their pool (pipeline.orchestration.task_imports).
                         "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG})
    else:
        # The LocalExecutor's workers come from a forkserver that imported TFX once: a task
        # starts in well under a second instead of importing it for 6 s (pipeline.orchestration.task_imports).
        defaults.update({"AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
                         "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": TASK_IMPORTS})
    for key, value in {**tf_env.DEFAULTS, **defaults}.items():
        env.setdefault(key, value)
    return env


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
TASK_IMPORTS = "pipeline.orchestration.task_imports"
CELERY_CONFIG = "pipeline.orchestration.celery_config.CELERY_CONFIG"


def api_server_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def api_server_settings(port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """Where the API server listens (this machine only, unless `host` names another of its
    addresses, for workers on other hosts), and where task processes reach it: in Airflow 3 tasks
    report to the API server's execution API, not to the database."""
    url = api_server_url(host, port)
    return {"AIRFLOW__API__HOST": host, "AIRFLOW__API__PORT": str(port), **execution_api_settings(url)}


def execution_api_settings(url: str) -> dict[str, str]:
    """Where the task processes of this host report: the API server at `url` (http://HOST:PORT)."""
    url = url.rstrip("/")
    return {"AIRFLOW__API__BASE_URL": url, "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/"}


# A Celery worker on another host (`mnist-pipeline airflow worker --name NAME`): Airflow records
# NAME as the host of each task it runs (`[core] hostname_callable`), and the API server reads the
# task logs from http://NAME:<[logging] worker_log_server_port>.
WORKER_NAME_ENV = "MNIST_PIPELINE_WORKER_NAME"
HOSTNAME_CALLABLE = "pipeline.services.environment.worker_hostname"


def worker_hostname() -> str:
    """The host name Airflow records for the tasks of this process: the worker's name, else the
    machine's fully qualified name (Airflow's default)."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def worker_settings(api_url: str, name: str) -> dict[str, str]:
    """The environment of a Celery worker on another host, on top of `airflow_environment`."""
    return {**execution_api_settings(api_url), WORKER_NAME_ENV: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE}


def celery_queue(home, profile: AirflowProfile | None = None) -> str:
    """The Celery queue of a home's tasks: the profile's `queue` (shared by the hosts of one
    Airflow), else named after the home's folder."""

    profile = profile or load_profile(home)
    return profile.queue or "mnist-" + hashlib.sha1(str(home.root).encode()).hexdigest()[:10]
