"""Where Airflow runs: the embedded profile (SQLite) or production (PostgreSQL, with the Local or
Celery executor), from the environment and the `airflow:` section of the home's config.yaml.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from pipeline.errors import ConfigError
from pipeline.home import Home

# Where Airflow runs (see AirflowProfile): its database, executor and Celery broker. Set in the
# environment, or in an `airflow:` section of the home's config.yaml (which wins, as for MLMD).
AIRFLOW_DB_ENV = "MNIST_PIPELINE_AIRFLOW_DB"


AIRFLOW_DB_PASSWORD_ENV = "MNIST_PIPELINE_AIRFLOW_DB_PASSWORD"


EXECUTOR_ENV = "MNIST_PIPELINE_EXECUTOR"


CELERY_BROKER_ENV = "MNIST_PIPELINE_CELERY_BROKER"


# For Celery workers on other hosts (`mnist-pipeline airflow worker`): the queue every host of one
# Airflow shares (default: named after the home's folder, which differs from host to host), and
# the scheduler host's API server, whose execution API a worker's tasks report to.
CELERY_QUEUE_ENV = "MNIST_PIPELINE_CELERY_QUEUE"


API_URL_ENV = "MNIST_PIPELINE_AIRFLOW_API_URL"

# Each setting: (field, environment variable), also the keys of config.yaml's `airflow:` section.
SETTINGS = (("database", AIRFLOW_DB_ENV), ("executor", EXECUTOR_ENV), ("broker", CELERY_BROKER_ENV),
            ("queue", CELERY_QUEUE_ENV), ("api_url", API_URL_ENV))


# Airflow 3 has no SequentialExecutor: the embedded profile runs the LocalExecutor one task at a time.
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


@dataclasses.dataclass(frozen=True)
class AirflowProfile:
    """Where Airflow runs: embedded (SQLite, one task at a time) or production (PostgreSQL).

    The profile follows from `database`: empty is the embedded default, SQLite in the home, where
    the LocalExecutor runs one task at a time; postgresql://USER@HOST:PORT/DATABASE (password in
    $MNIST_PIPELINE_AIRFLOW_DB_PASSWORD) is production, where the LocalExecutor (default) or the
    CeleryExecutor runs tasks in parallel.
    """

    database: str = ""
    executor: str = ""  # local or celery; empty: local
    broker: str = "redis://127.0.0.1:6379/0"  # the CeleryExecutor's broker
    queue: str = ""  # the Celery queue; empty: named after the home's folder (environment.celery_queue)
    api_url: str = ""  # a worker on another host: the scheduler host's API server, http://HOST:PORT

    def __post_init__(self) -> None:
        if self.database:
            postgres_database(self.database)
        if self.executor == "sequential":
            raise ConfigError("Airflow 3 removed the SequentialExecutor: leave executor empty (or local); the "
                              "embedded profile runs the LocalExecutor one task at a time")
        if self.executor and self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if not self.broker.startswith(("redis://", "rediss://", "amqp://")):
            raise ConfigError(f"the Celery broker must be a redis:// or amqp:// URL, got {self.broker!r}")
        if self.queue and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", self.queue):
            raise ConfigError(f"the Celery queue must be letters, digits, '_', '.' or '-', got {self.queue!r}")
        if self.api_url:
            parts = urlsplit(self.api_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
                    or parts.path.strip("/") or parts.query:
                raise ConfigError(f"the API server's URL must be http://HOST:PORT (the scheduler host's `airflow up`"
                                  f" prints it), got {self.api_url!r}")
        if not self.database and self.executor == "celery":
            raise ConfigError(f"the CeleryExecutor runs tasks in parallel, which Airflow's SQLite database cannot "
                              f"take: set ${AIRFLOW_DB_ENV} to a PostgreSQL database "
                              "(postgresql://USER@HOST:PORT/DATABASE)")

    @property
    def name(self) -> str:
        return "production" if self.database else "embedded"

    @property
    def default_executor(self) -> str:
        return self.executor or "local"

    def sql_alchemy_conn(self, home: Home) -> str:
        """Airflow's database URL, with the password from the environment (never from a file)."""
        if not self.database:
            return f"sqlite:///{home.airflow_home / 'airflow.db'}"

        db = postgres_database(self.database)
        password = os.environ.get(AIRFLOW_DB_PASSWORD_ENV, "")
        login = quote(db["user"], safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql+psycopg2://{login}@{db['host']}:{db['port']}/{db['database']}"


def postgres_database(url: str) -> dict[str, Any]:
    """host, port, database and user of a postgresql://USER@HOST:PORT/DATABASE URL."""

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.username \
            or len(parts.path) < 2:
        raise ConfigError(f"Airflow's database must be empty (SQLite) or postgresql://USER@HOST:PORT/DATABASE, "
                          f"got {url!r}")
    if parts.password:
        raise ConfigError(f"Airflow's database URL must not hold a password: put it in ${AIRFLOW_DB_PASSWORD_ENV}")
    return {"host": parts.hostname, "port": parts.port or 5432, "database": parts.path.lstrip("/"),
            "user": parts.username}


def load_profile(home: Home | None = None) -> AirflowProfile:
    """The environment's settings, then the `airflow:` section of the home's config.yaml."""
    values = {key: os.environ[env] for key, env in SETTINGS if os.environ.get(env)}
    path = (home or Home.from_env()).config_file
    if path.is_file():
        try:
            section = (yaml.safe_load(path.read_text()) or {}).get("airflow") or {}
        except (yaml.YAMLError, AttributeError):
            section = {}  # load_config reports a broken file
        keys = [key for key, _ in SETTINGS]
        if not isinstance(section, dict) or set(section) - set(keys):
            raise ConfigError(f"the airflow: section of {path} may hold {', '.join(keys[:-1])} and {keys[-1]}")
        values.update({k: str(v) for k, v in section.items() if v is not None})
    return AirflowProfile(**values)

