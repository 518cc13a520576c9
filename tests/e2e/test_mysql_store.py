"""ML Metadata on MySQL: a real pipeline run recording into this machine's MariaDB."""
import subprocess

from pipeline.home import Home
from tests.support import local_databases
from tests.support.cli import cli, cli_json, environment
from tests.support.runs import COMPONENTS


def test_a_run_records_into_mysql_and_the_commands_read_it(home):
    with local_databases.mariadb_store() as store:
        records_into(home, store)


def records_into(home: Home, store: dict[str, str]) -> None:
    env = {**environment(home), **store}
    database = store["MNIST_PIPELINE_MLMD"].rsplit("/", 1)[1]

    assert cli(home, "data", "--limit", "3000", env=env, merge_stderr=False).returncode == 0
    run = cli(home, "run", "--set", "eval_examples=1000", "--set", "epochs=1", env=env, merge_stderr=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not home.metadata_db.exists(), "nothing may go to SQLite when MySQL is configured"
    [summary] = cli_json(home, "runs", env=env)
    assert {summary["components"][c]["state"] for c in COMPONENTS} == {"COMPLETE"}
    assert summary["accuracy"] > 0.8 and summary["config"]["metadata_store"].startswith("mysql://")
    count = subprocess.run(["mariadb", "-N", "-e", f"SELECT COUNT(*) FROM {database}.Execution"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert int(count) >= len(COMPONENTS)
