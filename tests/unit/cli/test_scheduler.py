"""`mnist-pipeline airflow status/down` (pipeline/cli/scheduler.py) for a home where nothing runs."""
import json

from tests.support.cli import run_main


def test_status_of_a_home_without_airflow_is_exit_1_and_says_how_to_start_it(home, capsys):
    status = run_main(capsys, "airflow", "status")
    assert status.returncode == 1
    assert f"Airflow is not running for {home.root}" in status.stdout
    assert "mnist-pipeline airflow up" in status.stdout
    as_json = run_main(capsys, "airflow", "status", "--json")
    assert as_json.returncode == 1
    state = json.loads(as_json.stdout)
    assert state["up"] is False and state["profile"] == "embedded" and state["leftover_pids"] == []


def test_down_with_nothing_up_is_a_no_op(home, capsys):
    down = run_main(capsys, "airflow", "down")
    assert down.returncode == 0 and down.stdout.strip() == f"nothing runs for {home.root}"
