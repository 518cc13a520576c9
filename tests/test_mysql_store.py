"""ML Metadata on MySQL: a real pipeline run recording into this machine's MariaDB."""
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from pipeline.config import HOME_ENV, Home
from tests.test_end_to_end import COMPONENTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def mariadb_store():
    """A fresh database and user on the local MariaDB (root works over its socket)."""
    if not shutil.which("mariadb"):
        pytest.fail("the mariadb client is missing: this machine kind runs MariaDB (see README)")
    name, password = f"mnist_test_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = name

    def sql(statement):
        subprocess.run(["mariadb", "-e", statement], check=True, capture_output=True)

    sql(f"CREATE DATABASE {name}; CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {name}.* TO '{user}'@'127.0.0.1';")
    yield {"MNIST_PIPELINE_MLMD": f"mysql://{user}@127.0.0.1:3306/{name}", "MNIST_PIPELINE_MLMD_PASSWORD": password,
           "database": name}
    sql(f"DROP DATABASE {name}; DROP USER '{user}'@'127.0.0.1';")


def test_a_run_records_into_mysql_and_the_commands_read_it(tmp_path, mariadb_store):
    home = Home(tmp_path / "home")
    env = {**os.environ, HOME_ENV: str(home.root), **{k: v for k, v in mariadb_store.items() if k != "database"}}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, text=True,
                              capture_output=True, timeout=1800)

    assert cli("data", "--limit", "3000").returncode == 0
    run = cli("run", "--set", "eval_examples=1000", "--set", "epochs=1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not home.metadata_db.exists(), "nothing may go to SQLite when MySQL is configured"
    [summary] = json.loads(cli("runs", "--json").stdout)
    assert {summary["components"][c]["state"] for c in COMPONENTS} == {"COMPLETE"}
    assert summary["accuracy"] > 0.8 and summary["config"]["metadata_store"].startswith("mysql://")
    count = subprocess.run(["mariadb", "-N", "-e", f"SELECT COUNT(*) FROM {mariadb_store['database']}.Execution"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert int(count) >= len(COMPONENTS)
