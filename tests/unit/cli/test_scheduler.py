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


def test_a_worker_without_the_team_s_settings_is_refused_in_one_line_naming_them(home, capsys, monkeypatch):
    for key in ("MNIST_PIPELINE_AIRFLOW_DB", "MNIST_PIPELINE_AIRFLOW_API_URL", "MNIST_PIPELINE_CELERY_QUEUE",
                "MNIST_PIPELINE_STORAGE", "AIRFLOW__API__SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    worker = run_main(capsys, "airflow", "worker", "--name", "10.0.0.7")
    assert worker.returncode == 2
    for missing in ("$MNIST_PIPELINE_AIRFLOW_DB", "$MNIST_PIPELINE_AIRFLOW_API_URL", "$MNIST_PIPELINE_CELERY_QUEUE",
                    "$MNIST_PIPELINE_STORAGE", "$AIRFLOW__API__SECRET_KEY"):
        assert missing in worker.stdout + worker.stderr
    assert not home.services_state.exists()


def test_no_local_worker_is_for_celery_only(home, capsys, monkeypatch):
    monkeypatch.delenv("MNIST_PIPELINE_AIRFLOW_DB", raising=False)
    up = run_main(capsys, "airflow", "up", "--executor", "local", "--workers", "0")
    assert up.returncode == 2 and "0 only with --executor celery" in up.stdout + up.stderr


def test_workers_on_other_hosts_need_the_shared_secret_key_on_the_scheduler_host(home, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_PIPELINE_AIRFLOW_DB", "postgresql://airflow@127.0.0.1:1/never_reached")
    monkeypatch.delenv("AIRFLOW__API__SECRET_KEY", raising=False)
    up = run_main(capsys, "airflow", "up", "--executor", "celery", "--workers", "0")
    assert up.returncode == 2 and "$AIRFLOW__API__SECRET_KEY" in up.stdout + up.stderr
    assert not home.services_state.exists()
