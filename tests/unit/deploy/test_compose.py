"""docker-compose.yml and .env.example, checked without a Docker engine (there is none on these
machines): the compose file against the Compose specification (Debian's docker-compose 1.29,
whose `config` validates and resolves a file without an engine), and the properties the
deployment promises: ports on localhost only, named volumes, health checks, no secret in a file.
Its Airflow services: test_compose_airflow.py; its object store: test_compose_storage.py."""
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from tests.support.deploy import (
    AIRFLOW_SERVICES,
    COMPOSE_FILE,
    COMPOSE_VARIABLE,
    ENV_EXAMPLE,
    REPO,
    SECRET_NAME,
    VARIABLE_ONLY,
    compose_config,
    env_example,
    published_ports,
    volume_mounts,
)


def test_compose_file_is_valid_against_the_compose_specification(resolved):
    assert set(resolved["services"]) == {"postgres", "redis", "mysql", "airflow-init", *AIRFLOW_SERVICES,
                                         "tfserving", "s3", "s3-init"}
    assert resolved["services"]["tfserving"]["image"].startswith("tensorflow/serving:")
    assert resolved["services"]["mysql"]["image"].startswith("mysql:8.0")


def test_the_validator_rejects_what_the_specification_forbids(tmp_path, env_file):
    """The check above can fail: a misspelt key, a dependency on no service, are refused."""
    misspelt = yaml.safe_load(COMPOSE_FILE.read_text())
    misspelt["services"]["redis"]["restrat"] = "always"
    dangling = yaml.safe_load(COMPOSE_FILE.read_text())
    dangling["services"]["tfserving"]["depends_on"]["no-such-service"] = {"condition": "service_healthy"}
    for broken in (misspelt, dangling):
        path = tmp_path / "docker-compose.yml"
        path.write_text(yaml.safe_dump(broken))
        process = compose_config(env_file, path)
        assert process.returncode != 0, process.stdout


def test_compose_refuses_to_start_while_a_secret_is_missing():
    """.env.example as it is (secrets empty): compose stops and names the variable to set."""
    process = compose_config(ENV_EXAMPLE)
    assert process.returncode != 0
    assert re.search(r"set \w*(PASSWORD|KEY)\w* in \.env", process.stderr), process.stderr


def test_every_published_port_is_bound_to_localhost(resolved):
    published = {name: published_ports(service) for name, service in resolved["services"].items()
                 if service.get("ports")}
    assert {(host, container) for _, host, container in published["airflow-apiserver"]} == {("8080", "8080")}
    assert {container for *_, container in published["tfserving"]} == {"8500", "8501"}
    for name, ports in published.items():
        for host_ip, _host_port, container_port in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes {container_port} on {host_ip or 'all interfaces'}"


def test_named_volumes_keep_the_dags_the_home_mlmd_and_the_object_store_and_no_models(resolved):
    from pipeline.home import Home

    services = resolved["services"]
    named = set(resolved["volumes"])
    assert {"dags", "pipeline-home", "mlmd-db", "airflow-db", "s3-data"} <= named and "serving" not in named
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        home = Home(Path(env["MNIST_PIPELINE_HOME"]))
        mounts = volume_mounts(services[name])
        assert mounts[str(home.root)] == ("pipeline-home", "rw"), name
        assert set(mounts.values()) <= {("pipeline-home", "rw"), ("dags", "rw")}, name
        if name != "airflow-init":  # it mounts the volume elsewhere to refresh it from the image
            assert mounts[env["AIRFLOW__CORE__DAGS_FOLDER"]] == ("dags", "rw"), name
    assert ("dags", "rw") in volume_mounts(services["airflow-init"]).values()
    assert volume_mounts(services["mysql"])["/var/lib/mysql"] == ("mlmd-db", "rw")
    assert volume_mounts(services["postgres"])["/var/lib/postgresql/data"] == ("airflow-db", "rw")


def test_every_service_has_a_healthcheck_or_runs_once(resolved):
    services = resolved["services"]
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        if test and test != ["NONE"] and not service["healthcheck"].get("disable"):
            continue
        # A one-off container has no health; everything that needs it waits for its successful exit.
        waiting = [other for other, spec in services.items() if name in spec.get("depends_on", {})]
        assert service.get("restart") == "no" and waiting, f"{name} has no healthcheck"
        for other in waiting:
            assert services[other]["depends_on"][name]["condition"] == "service_completed_successfully"


def test_no_secret_is_in_the_compose_file_or_env_example(raw):
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert VARIABLE_ONLY.fullmatch(str(value)), f"{name}: {key} must come from the environment"
            # user:password@ in a URL: the password must be a variable too.
            for password in re.findall(r"://[^:/@]*:([^@]*)@", re.sub(r"\$\{[^}]*\}", "VAR", str(value))):
                assert password == "VAR", f"{name}: a literal password in {key}"
        command = service.get("command")
        arguments = [str(a) for a in command] if isinstance(command, list) else shlex.split(command or "")
        for flag, following in zip(arguments, arguments[1:] + [""]):
            option, equals, value = flag.partition("=")
            if re.search(r"pass(word)?$", option, re.IGNORECASE):
                assert VARIABLE_ONLY.fullmatch(value if equals else following), \
                    f"{name}: a literal password for {option}"
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example must leave {key} empty for the user to fill in"


def test_the_env_file_with_the_secrets_is_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0, "add .env to .gitignore: it holds the deployment's secrets"


def test_every_compose_variable_is_listed_in_env_example():
    used = set(COMPOSE_VARIABLE.findall(COMPOSE_FILE.read_text()))
    listed = set(env_example())
    assert used - listed == set(), "variables missing from .env.example"
    assert listed - used == set(), ".env.example lists variables that compose does not use"

