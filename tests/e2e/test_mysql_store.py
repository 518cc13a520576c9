"""ML Metadata on MySQL: a real pipeline run recording into this machine's MariaDB."""
import json
import os
import subprocess
import sys

import pytest

from pipeline.home import HOME_ENV, Home
from tests import local_databases
from tests.test_end_to_end import COMPONENTS

pytestmark = pytest.mark.e2e


def test_a_run_records_into_mysql_and_the_commands_read_it(tmp_path):
    with local_databases.mariadb_store() as store:
        records_into(tmp_path, store)


def records_into(tmp_path, store: dict[str, str]) -> None:
    home = Home(tmp_path / "home")
    env = {**os.environ, HOME_ENV: str(home.root), **store}
    database = store["MNIST_PIPELINE_MLMD"].rsplit("/", 1)[1]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], env=env, text=True,
                              capture_output=True, timeout=1800)

    assert cli("data", "--limit", "3000").returncode == 0
    run = cli("run", "--set", "eval_examples=1000", "--set", "epochs=1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not home.metadata_db.exists(), "nothing may go to SQLite when MySQL is configured"
    [summary] = json.loads(cli("runs", "--json").stdout)
    assert {summary["components"][c]["state"] for c in COMPONENTS} == {"COMPLETE"}
    assert summary["accuracy"] > 0.8 and summary["config"]["metadata_store"].startswith("mysql://")
    count = subprocess.run(["mariadb", "-N", "-e", f"SELECT COUNT(*) FROM {database}.Execution"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert int(count) >= len(COMPONENTS)
