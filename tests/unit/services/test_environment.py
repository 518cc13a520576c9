"""The Airflow profile (pipeline/services/profiles.py) and the environment of every Airflow process
(pipeline/services/environment.py), from the environment and the home's config file: nothing
started. Airflow brought up for real with each profile: tests/e2e/test_services.py."""
import os

import pytest

from pipeline.services.profiles import AIRFLOW_DB_ENV


def test_the_profile_comes_from_the_environment_and_the_home_s_config_file(home, monkeypatch):
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.services import environment
    from pipeline.services.profiles import AirflowProfile, load_profile

    for key in (AIRFLOW_DB_ENV, "MNIST_PIPELINE_EXECUTOR", "AIRFLOW__CORE__DEFAULT_TASK_RETRIES"):
        monkeypatch.delenv(key, raising=False)
    assert load_profile(home) == AirflowProfile() and AirflowProfile().name == "embedded"
    embedded = environment.airflow_environment(home)
    assert embedded["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and embedded["AIRFLOW__CORE__PARALLELISM"] == "1"
    assert embedded["AIRFLOW__CORE__AUTH_MANAGER"] == environment.FAB_AUTH_MANAGER
    assert embedded["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert "AIRFLOW__CORE__DEFAULT_TASK_RETRIES" not in embedded  # no retries in the embedded default
    # Task processes fork from a parent that imported TFX once (pipeline/orchestration/task_imports.py).
    assert (embedded["AIRFLOW__SCHEDULER__MP_START_METHOD"], embedded["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"]) \
        == ("forkserver", environment.TASK_IMPORTS)

    monkeypatch.setenv(AIRFLOW_DB_ENV, "postgresql://airflow@127.0.0.1:5432/from_env")
    monkeypatch.setenv("MNIST_PIPELINE_AIRFLOW_DB_PASSWORD", "s3cret/:@")
    production = environment.airflow_environment(home)
    assert production["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert production["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == \
        "postgresql+psycopg2://airflow:s3cret%2F%3A%40@127.0.0.1:5432/from_env"
    assert production["AIRFLOW__CORE__DEFAULT_TASK_RETRIES"] == "1"

    home.root.mkdir(parents=True)
    home.config_file.write_text("epochs: 2\nairflow:\n  database: postgresql://airflow@db:5432/from_file\n"
                                "  executor: celery\n")
    assert load_config(home=home).epochs == 2  # the airflow: section is not pipeline config
    celery = environment.airflow_environment(home)
    assert celery["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and "/from_file" in \
        celery["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert celery["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == environment.celery_queue(home)
    assert celery["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == environment.CELERY_CONFIG
    assert "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD" not in celery  # its scheduler runs no task
    # Every setting the project makes is an option of the installed Airflow (a misspelt one is
    # ignored without a word); a finished task frees its slot within a second in every profile.
    from airflow.configuration import retrieve_configuration_description

    options = {f"AIRFLOW__{section}__{option}".upper() for section, spec in
               retrieve_configuration_description(include_providers=True).items() for option in spec["options"]}
    # Read per component, [scheduler] before [core], by airflow.utils.process_utils, undeclared.
    options |= {"AIRFLOW__SCHEDULER__MP_START_METHOD", "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"}
    for env in (embedded, production, celery):
        assert {k for k in env if k.startswith("AIRFLOW__") and k not in os.environ} <= options
        assert env["AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"] == "1"
        assert env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == "0.25"
    home.config_file.write_text("airflow:\n  database: postgresql://airflow:pw@db/x\n")
    with pytest.raises(ConfigError, match="must not hold a password"):
        load_profile(home)


def test_hosts_of_one_airflow_share_a_queue_and_a_worker_reports_to_the_scheduler_host(home, monkeypatch):
    from pipeline.errors import ConfigError
    from pipeline.services import environment
    from pipeline.services.profiles import API_URL_ENV, CELERY_QUEUE_ENV, load_profile

    for key in (CELERY_QUEUE_ENV, API_URL_ENV, environment.WORKER_NAME_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(AIRFLOW_DB_ENV, "postgresql://airflow@10.0.0.5:5432/team")
    assert environment.celery_queue(home).startswith("mnist-")  # named after the home's folder
    home.root.mkdir(parents=True)
    home.config_file.write_text("airflow:\n  queue: mnist-team\n  api_url: http://10.0.0.5:8080/\n")
    assert load_profile(home).queue == "mnist-team" and environment.celery_queue(home) == "mnist-team"
    assert environment.airflow_environment(home, "celery")["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "mnist-team"
    worker = environment.worker_settings(load_profile(home).api_url, "10.0.0.7")
    assert worker["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://10.0.0.5:8080/execution/"
    assert worker["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == environment.HOSTNAME_CALLABLE
    monkeypatch.setenv(environment.WORKER_NAME_ENV, "10.0.0.7")
    monkeypatch.setenv("AIRFLOW__CORE__HOSTNAME_CALLABLE", environment.HOSTNAME_CALLABLE)
    from airflow.configuration import conf

    assert conf.getimport("core", "hostname_callable")() == "10.0.0.7"  # as Airflow finds a task's host
    served = environment.api_server_settings(8080, "10.0.0.5")
    assert served["AIRFLOW__API__HOST"] == "10.0.0.5" and served["AIRFLOW__API__BASE_URL"] == "http://10.0.0.5:8080"
    for bad in ("queue: 'a b'", "api_url: ftp://x", "api_url: http://user:pw@x:1", "api_url: http://x:1/api"):
        home.config_file.write_text(f"airflow:\n  {bad}\n")
        with pytest.raises(ConfigError):
            load_profile(home)
    home.config_file.write_text("airflow:\n  jwt_secret: x\n")
    with pytest.raises(ConfigError, match="queue and api_url"):
        load_profile(home)
