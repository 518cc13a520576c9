"""The Airflow services of docker-compose.yml: one configuration for all of them, the logins,
tokens and execution API they must agree on, every setting an option of Airflow 3, and each
service's role and health check (run for real against live processes in
tests/e2e/test_deploy_airflow.py)."""
import re
import sys
import sysconfig
from pathlib import PurePosixPath

from pipeline.config import mysql_store
from tests.support.deploy import (
    AIRFLOW_SERVICES,
    DOCKERFILE,
    FAB_AUTH_MANAGER,
    dockerfile_env,
    env_example,
    expand,
    published_ports,
)


def test_airflow_services_share_the_projects_configuration(resolved):
    image_env = dockerfile_env()
    services = resolved["services"]
    site_packages = PurePosixPath(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        assert services[name].get("build"), f"{name} runs the image built from the Dockerfile"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["TF_USE_LEGACY_KERAS"] == "1"
        assert env["MNIST_PIPELINE_HOME"] == image_env["MNIST_PIPELINE_HOME"]
        # The installed package's dags/ folder in the image's virtualenv (same Python minor here).
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == \
            str(PurePosixPath(image_env["VIRTUAL_ENV"]) / site_packages / "dags")
        assert re.fullmatch(r"postgresql\+psycopg2://[^:]+:[^@]+@postgres:5432/\w+",
                            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert re.fullmatch(r"redis://:[^@]+@redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        store = mysql_store(env["MNIST_PIPELINE_MLMD"])
        mysql_env = services["mysql"]["environment"]
        assert (store["host"], store["port"]) == ("mysql", 3306)
        assert (store["user"], store["database"]) == (mysql_env["MYSQL_USER"], mysql_env["MYSQL_DATABASE"])
        assert env["MNIST_PIPELINE_MLMD_PASSWORD"] == mysql_env["MYSQL_PASSWORD"]
        assert env["AIRFLOW__CORE__FERNET_KEY"]
    assert "--default-authentication-plugin=mysql_native_password" in services["mysql"]["command"], \
        "ML Metadata's MySQL client cannot use MySQL 8's caching_sha2_password"
    assert services["airflow-worker"]["command"][-2:] == ["celery", "worker"]
    # The image's dags/ folder is handed to the airflow user, who writes into the DAGs volume there.
    assert services["airflow-worker"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] in \
        expand(DOCKERFILE.read_text(), image_env)


def test_airflow_services_share_logins_tokens_and_the_execution_api(resolved, env_file):
    """Airflow 3 splits what the webserver did across processes that must agree: the scheduler
    signs each task's token with the JWT secret and the API server checks it; a task reaches the
    API server's execution API at the URL it is given; the UI's logins live in FAB's tables."""
    services = resolved["services"]
    secrets_in_env = env_example(env_file)
    apiserver = services["airflow-apiserver"]
    [container_port] = {container for *_, container in published_ports(apiserver)}
    command = apiserver["command"]
    assert command[:2] == ["airflow", "api-server"] and command[command.index("--port") + 1] == container_port
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets_in_env["AIRFLOW_JWT_SECRET"] != "", name
        assert env["AIRFLOW__API__SECRET_KEY"] == secrets_in_env["AIRFLOW_API_SECRET_KEY"] != "", name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == secrets_in_env["AIRFLOW_FERNET_KEY"] != "", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == \
            f"http://airflow-apiserver:{container_port}/execution/", name
        # Airflow 2's REST API took basic auth; Airflow 3's takes JWT tokens from POST /auth/token.
        assert "AIRFLOW__API__AUTH_BACKENDS" not in env, name
    # Tasks need the API server: the workers wait for it to be healthy.
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    # Only the one-off init container is given the admin's password.
    for name in AIRFLOW_SERVICES:
        assert "AIRFLOW_ADMIN_PASSWORD" not in services[name]["environment"], name


def test_every_airflow_setting_is_an_airflow_3_option(raw):
    """Each AIRFLOW__SECTION__KEY names an option of the installed Airflow (its config.yml and its
    providers'): a misspelt option is ignored without a word, and Airflow 2's [webserver] ones are
    either ignored or read under a deprecation (webserver.secret_key for api.secret_key)."""
    from airflow.configuration import retrieve_configuration_description

    options = {(section, option) for section, spec in retrieve_configuration_description(include_providers=True).items()
               for option in spec["options"]}
    settings = {key for service in (raw["x-airflow-common"], *raw["services"].values())
                for key in (service.get("environment") or {}) if key.startswith("AIRFLOW__")}
    assert len(settings) > 15, settings
    for key in settings:
        section, option = key.removeprefix("AIRFLOW__").lower().split("__")
        assert (section, option) in options, f"{key}: Airflow {_installed_airflow()} has no [{section}] {option}"


def _installed_airflow() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def test_the_executor_and_auth_manager_compose_names_load(resolved):
    """The names compose gives Airflow import in this project's environment (the same lock as
    the image): the CeleryExecutor and FAB's auth manager."""
    import importlib

    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager

    def load(name: str):
        module, _, attribute = name.rpartition(".")
        return getattr(importlib.import_module(module), attribute)

    env = resolved["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    load("airflow.providers.celery.executors.celery_executor.CeleryExecutor")
    assert issubclass(load(env["AIRFLOW__CORE__AUTH_MANAGER"]), BaseAuthManager)


def test_each_airflow_service_runs_its_role_and_checks_its_own_health(resolved):
    """Each long-running Airflow service runs one Airflow 3 command, and its health check asks
    about that role. The checks themselves run for real against live processes in
    tests/e2e/test_deploy_airflow.py."""
    from airflow.cli.cli_config import ARG_JOB_TYPE_FILTER

    services = resolved["services"]

    def role(name):
        return services[name]["command"], " ".join(services[name]["healthcheck"]["test"])

    command, check = role("airflow-apiserver")
    assert "/api/v2/monitor/health" in check and "/execution/health" in check
    assert "127.0.0.1:8080" in check and command[command.index("--port") + 1] == "8080"
    command, check = role("airflow-scheduler")
    scheduler_env = services["airflow-scheduler"]["environment"]
    assert command == ["airflow", "scheduler"]
    assert scheduler_env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    # Asked from inside its own container only; 8974 is Airflow's default port for it.
    assert scheduler_env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == "127.0.0.1"
    assert "http://127.0.0.1:8974/health" in check
    for name, subcommand, job_type in (("airflow-dag-processor", "dag-processor", "DagProcessorJob"),
                                       ("airflow-triggerer", "triggerer", "TriggererJob")):
        command, _ = role(name)
        test = services[name]["healthcheck"]["test"]
        assert command == ["airflow", subcommand], name
        assert job_type in ARG_JOB_TYPE_FILTER.kwargs["choices"]
        assert test[1:] == ["airflow", "jobs", "check", "--job-type", job_type, "--local"], name
    command, check = role("airflow-worker")
    assert command == ["airflow", "celery", "worker"]
    assert "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping" in check

