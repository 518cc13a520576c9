"""Fresh databases on this machine's PostgreSQL and MariaDB, dropped afterwards: for the tests and
the benchmark that run Airflow and MLMD as a team does."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid


@contextlib.contextmanager
def postgres_database():
    """A fresh database on the local PostgreSQL (trust auth for postgres on 127.0.0.1); its URL."""
    if not shutil.which("psql"):
        raise RuntimeError("the psql client is missing: this machine kind runs PostgreSQL (see README)")
    name = f"mnist_test_{uuid.uuid4().hex[:8]}"

    def sql(statement):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", statement],
                       check=True, capture_output=True)

    sql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        sql(f"DROP DATABASE {name} WITH (FORCE)")


@contextlib.contextmanager
def mariadb_store():
    """A fresh MLMD database and user on the local MariaDB (root works over its socket); the
    environment that points the pipeline at it."""
    if not shutil.which("mariadb"):
        raise RuntimeError("the mariadb client is missing: this machine kind runs MariaDB (see README)")
    name, password = f"mnist_test_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex

    def sql(statement):
        subprocess.run(["mariadb", "-e", statement], check=True, capture_output=True)

    sql(f"CREATE DATABASE {name}; CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {name}.* TO '{name}'@'127.0.0.1';")
    try:
        yield {"MNIST_PIPELINE_MLMD": f"mysql://{name}@127.0.0.1:3306/{name}", "MNIST_PIPELINE_MLMD_PASSWORD": password}
    finally:
        sql(f"DROP DATABASE {name}; DROP USER '{name}'@'127.0.0.1';")


@contextlib.contextmanager
def mariadb_store_here():
    """`mariadb_store`, set in this process's environment too (restored afterwards), so that the
    test reads the same MLMD store as the pipeline's tasks."""
    with mariadb_store() as store:
        saved = {key: os.environ.get(key) for key in store}
        os.environ.update(store)
        try:
            yield store
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.update({key: value})
