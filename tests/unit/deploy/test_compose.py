"""The deployable stack (docker-compose.yml, Dockerfile, deploy/), checked without a Docker engine.

No container is started here: there is no Docker engine on these machines. What is checked: the
compose file against the Compose specification (Debian's docker-compose 1.29, whose `config`
validates and resolves a file without an engine) and the properties the deployment promises, its
Airflow settings against Airflow 3's own list of options; the Dockerfile's install steps, run for
real in a fresh virtualenv; the init service's script against this machine's PostgreSQL, watched
for the admin password on any command line; the five Airflow services run as processes with
compose's environment, each passing its compose health check, a FAB login and a task through
Celery and the execution API; TensorFlow Serving's model config, parsed with
TensorFlow Serving's own ModelServerConfig proto; and the layout of a model pushed by a real
pipeline run.
"""
from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath

import pytest
import yaml

from pipeline.config import PipelineConfig, load_config, mysql_store
from tests.local_databases import postgres_database

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
MODEL_CONFIG = REPO / "deploy" / "models.config"

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$|_AUTH$")
VARIABLE_ONLY = re.compile(r"\$\{\w+(:\?[^}]*)?\}")
# ${VAR}, ${VAR:-default}, ${VAR:?message}; $$ escapes a dollar for the container's shell.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)")


def env_example(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if not path:
        pytest.fail("docker-compose is missing: `make test` installs Debian's package (apt-get install docker-compose)")
    return path


def compose_config(env_file: Path, compose_file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess:
    """`docker-compose config`: validates against the Compose specification, prints the resolved file."""
    # A clean environment: only the env file may supply the variables.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([docker_compose(), "--project-directory", str(REPO), "-f", str(compose_file),
                           "--env-file", str(env_file), "config"],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    """.env.example with every empty value filled in, as a user would."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and not value.strip():
            value = (base64.urlsafe_b64encode(os.urandom(32)).decode() if "FERNET" in key
                     else secrets.token_hex(16))
        lines.append(f"{key}{sep}{value}" if sep else line)
    path = tmp_path_factory.mktemp("deploy") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def resolved(env_file) -> dict:
    process = compose_config(env_file)
    assert process.returncode == 0, process.stderr
    return yaml.safe_load(process.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                env[key] = expand(value, env)
    return env


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), text)


def volume_mounts(service: dict) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) of a resolved service's volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):  # the long form (docker compose v2 prints this)
            mounts[volume["target"]] = (volume["source"], "ro" if volume.get("read_only") else "rw")
        else:
            source, target, *mode = volume.split(":")
            mounts[target] = (source, mode[0] if mode else "rw")
    return mounts


def published_ports(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of each published port."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((port.get("host_ip", ""), str(port.get("published", "")), str(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            host_ip = parts[0] if len(parts) == 3 else ""
            ports.append((host_ip, parts[-2] if len(parts) > 1 else "", parts[-1]))
    return ports


# --- The compose file -------------------------------------------------------------------------

def test_compose_file_is_valid_against_the_compose_specification(resolved):
    assert set(resolved["services"]) == {"postgres", "redis", "mysql", "airflow-init", *AIRFLOW_SERVICES,
                                         "tfserving"}
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
        for host_ip, host_port, container_port in ports:
            assert host_ip == "127.0.0.1", f"{name} publishes {container_port} on {host_ip or 'all interfaces'}"


def test_named_volumes_keep_the_dags_the_home_mlmd_and_the_serving_folder(resolved):
    from pipeline.home import Home

    services = resolved["services"]
    named = set(resolved["volumes"])
    assert {"dags", "pipeline-home", "serving", "mlmd-db", "airflow-db"} <= named
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        home = Home(Path(env["MNIST_PIPELINE_HOME"]))
        mounts = volume_mounts(services[name])
        assert mounts[str(home.root)] == ("pipeline-home", "rw"), name
        assert mounts[str(home.serving_root)] == ("serving", "rw"), name
        if name != "airflow-init":  # it mounts the volume elsewhere to refresh it from the image
            assert mounts[env["AIRFLOW__CORE__DAGS_FOLDER"]] == ("dags", "rw"), name
    assert ("dags", "rw") in volume_mounts(services["airflow-init"]).values()
    assert volume_mounts(services["mysql"])["/var/lib/mysql"] == ("mlmd-db", "rw")
    assert volume_mounts(services["postgres"])["/var/lib/postgresql/data"] == ("airflow-db", "rw")
    serving_mounts = [(target, mode) for target, (source, mode) in volume_mounts(services["tfserving"]).items()
                      if source == "serving"]
    assert len(serving_mounts) == 1 and serving_mounts[0][1] == "ro", "TF Serving reads the serving volume only"


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
                assert VARIABLE_ONLY.fullmatch(value if equals else following), f"{name}: a literal password for {option}"
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
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PurePosixPath(image_env["VIRTUAL_ENV"]) / site_packages / "dags")
        assert re.fullmatch(r"postgresql\+psycopg2://[^:]+:[^@]+@postgres:5432/\w+", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
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
    assert services["airflow-worker"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] in expand(DOCKERFILE.read_text(), image_env)


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
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-apiserver:{container_port}/execution/", name
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
    test_health_checks_pass_against_a_live_airflow below."""
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


def test_the_dockerfile_copies_every_package_the_project_installs():
    """The image installs from the copied source: a package pyproject.toml includes but the
    Dockerfile does not copy would be missing from the image only."""
    import tomllib

    included = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {Path(source).name for keyword, arguments in dockerfile_instructions() if keyword == "COPY"
              for source in shlex.split(arguments)[:-1]}
    for pattern in included:
        assert pattern.rstrip("*") in copied, f"the Dockerfile does not COPY {pattern.rstrip('*')}/"


# --- TensorFlow Serving's model config --------------------------------------------------------

def test_model_config_serves_the_folder_the_pusher_writes(resolved):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from pipeline.home import Home

    config = text_format.Parse(MODEL_CONFIG.read_text(), model_server_config_pb2.ModelServerConfig())
    [model] = config.model_config_list.config
    pipeline_name = PipelineConfig().pipeline_name
    assert model.name == pipeline_name
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions >= 1

    tfserving = resolved["services"]["tfserving"]
    mounts = volume_mounts(tfserving)
    [config_flag] = [arg for arg in tfserving["command"] if arg.startswith("--model_config_file=")]
    config_path = config_flag.partition("=")[2]
    assert Path(mounts[config_path][0]).resolve() == MODEL_CONFIG.resolve()
    assert not any(arg.startswith("--model_base_path") for arg in tfserving["command"])

    # base_path is <where tfserving mounts the serving volume>/<pipeline name>, and the Airflow
    # services mount that same volume at Home.serving_root: the Pusher's <home>/serving/<name>.
    [serving_target] = [target for target, (source, _) in mounts.items() if source == "serving"]
    home = Home(Path(resolved["services"]["airflow-worker"]["environment"]["MNIST_PIPELINE_HOME"]))
    pusher_dir = home.serving_dir(PipelineConfig())
    assert PurePosixPath(model.base_path) == PurePosixPath(serving_target) / pusher_dir.relative_to(home.serving_root)


# --- The Dockerfile's install steps and the init service, for real ----------------------------

class ImageRoot:
    """A folder standing for the image's root, built by replaying the Dockerfile."""

    def __init__(self, root: Path):
        self.root = root
        self.env = dockerfile_env()
        self.install_steps: list[list[str]] = []

    def here(self, path: str) -> str:
        """An absolute path of the image, inside this folder."""
        return str(self.root / path.lstrip("/")) if path.startswith("/") else path

    @property
    def venv(self) -> Path:
        return Path(self.here(self.env["VIRTUAL_ENV"]))


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> ImageRoot:
    """Replays the Dockerfile's COPY instructions and runs its deploy/install.sh steps, with this
    machine's Python 3.11 and pip (its other RUN steps set up users in the image)."""
    image = ImageRoot(tmp_path_factory.mktemp("image") / "root")
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            *sources, destination = shlex.split(arguments)
            for source in sources:
                target = Path(image.here(destination))
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"),
                                    dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / source, target / Path(source).name)
        elif keyword == "RUN":
            for command in arguments.split("&&"):
                words = shlex.split(command)
                if words and words[0].endswith("deploy/install.sh"):
                    words = [image.here(expand(word, image.env)) for word in words]
                    image.install_steps.append(words)
                    process = subprocess.run(words, env={**os.environ, "PYTHON": sys.executable},
                                             capture_output=True, text=True, timeout=900)
                    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return image


@pytest.mark.e2e
def test_dockerfile_install_steps_work_in_a_fresh_virtualenv(image_root, tmp_path):
    assert [step[1] for step in image_root.install_steps] == ["dependencies", "project"], \
        "the Dockerfile installs through deploy/install.sh"
    venv = image_root.venv
    clean = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "TF_USE_LEGACY_KERAS": "1"}
    cli = subprocess.run([str(venv / "bin" / "mnist-pipeline"), "--help"], env=clean, capture_output=True,
                         text=True, timeout=300)
    assert cli.returncode == 0 and "run" in cli.stdout, cli.stdout + cli.stderr
    # What compose's Airflow services load: the CeleryExecutor, FAB's auth manager, and the
    # standard provider's PythonOperator that the DAG's tasks are.
    probe = ("import airflow, tfx, dags, pipeline, ml_metadata, airflow.providers.celery.executors.celery_executor; "
             "from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager; "
             "from airflow.providers.standard.operators.python import PythonOperator; "
             "print('probe:', airflow.__version__, tfx.__version__, dags.DAGS_FOLDER, pipeline.__file__)")
    process = subprocess.run([str(venv / "bin" / "python"), "-c", probe], env=clean, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    [probed] = [line.split()[1:] for line in process.stdout.splitlines() if line.startswith("probe: ")]
    airflow_version, tfx_version, dags_folder, package_file = probed
    assert (airflow_version, tfx_version) == ("3.3.2", "1.16.0")
    # A regular install into the virtualenv, and the DAGs folder compose points Airflow at.
    assert Path(package_file).is_relative_to(venv)
    compose_dags = yaml.safe_load(COMPOSE_FILE.read_text())["x-airflow-common"]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"]
    assert dags_folder == image_root.here(compose_dags)
    assert (Path(dags_folder) / "mnist_pipeline.py").is_file()


@pytest.fixture
def airflow_database():
    """A fresh database on this machine's PostgreSQL, as SQLAlchemy's URL for psycopg2."""
    with postgres_database() as url:
        yield url.replace("postgresql://", "postgresql+psycopg2://", 1)


def processes() -> dict[int, tuple[int, bytes, bytes]]:
    """pid -> (parent pid, arguments, environment) of every process on this machine, NUL-separated."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            table[int(entry.name)] = (int(stat.rpartition(")")[2].split()[1]),
                                      Path(entry.path, "cmdline").read_bytes(), Path(entry.path, "environ").read_bytes())
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return table


def run_watched(command: list[str], env: dict[str, str], secret: str, log: Path,
                timeout: float = 600) -> tuple[int, list[list[str]], int]:
    """Run `command` and, every few milliseconds until it ends, read the arguments and the
    environment of every process on this machine (as root: `ps` and `ps e` show the same).

    Fails at once if `secret` is in any process's arguments, or in the environment of any process
    but `command` itself, which is given it in its environment as compose gives it, and its own
    subshells (forks of a shell script without an exec show the environment it started with).
    Returns the exit code, the argument lists seen among the command's descendants (programs it
    ran, not its subshells), and the number of polls.
    """
    import time

    needle = secret.encode()
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    itself: bytes | None = None  # its arguments once running: its subshells have the same
    family: set[int] = set()
    seen: set[tuple[str, ...]] = set()
    polls = 0
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            assert time.monotonic() < deadline, f"{command[0]} did not finish in {timeout:.0f} s"
            table = processes()
            polls += 1
            children: dict[int, list[int]] = {}
            for pid, (parent, *_) in table.items():
                children.setdefault(parent, []).append(pid)
            family, unvisited = set(), [process.pid]
            while unvisited:
                pid = unvisited.pop()
                family.add(pid)
                unvisited.extend(children.get(pid, []))
            if process.pid in table:
                itself = table[process.pid][1]
            for pid, (_, arguments, environment) in table.items():
                assert needle not in arguments, f"the password is on a command line: pid {pid}"
                subshell = pid in family and arguments == itself
                assert pid == process.pid or subshell or needle not in environment, \
                    f"the password is in the environment of pid {pid}: {arguments[:200]!r}"
                if pid in family and not subshell:
                    seen.add(tuple(a.decode(errors="replace") for a in arguments.split(b"\0") if a))
            time.sleep(0.002)
    finally:
        # On a failure, the command and what it started (Airflow commands take seconds) go too.
        for pid in family if process.poll() is None else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
    return process.returncode, [list(a) for a in seen], polls


def test_the_init_script_expands_the_admin_password_only_in_shell_builtins():
    """What the watched run below cannot rule out for processes shorter than its polling: every
    line of deploy/init-airflow.sh that expands the password runs no program with it. It reaches
    Airflow through a pipe from printf (a bash builtin) into `airflow users create`'s prompt."""
    script = (REPO / "deploy" / "init-airflow.sh").read_text()
    lines = [line.strip() for line in script.replace("\\\n", " ").splitlines()
             if not line.strip().startswith("#")]
    uses = [line for line in lines if re.search(r"admin_password|AIRFLOW_ADMIN_PASSWORD", line)]
    builtins = (":", "admin_password=$AIRFLOW_ADMIN_PASSWORD", "unset", "printf")
    assert uses and all(line.split()[0] in builtins for line in uses), uses
    [pipe] = [line for line in uses if line.startswith("printf")]
    printed, _, receiver = pipe.partition("|")
    # Twice: getpass asks for the password, then for its confirmation.
    assert printed.split()[1:] == ["'%s\\n%s\\n'", '"$admin_password"', '"$admin_password"'], printed
    receiver = shlex.split(receiver)
    assert receiver[receiver.index("airflow"):][:3] == ["airflow", "users", "create"], receiver
    # No terminal, so that getpass reads stdin; no password option on the command line.
    assert receiver[receiver.index("airflow") - 2:receiver.index("airflow")] == ["setsid", "--wait"], receiver
    assert not {"-p", "--password", "--use-random-password"} & set(receiver), receiver


@pytest.mark.e2e
def test_the_init_service_prepares_volumes_database_and_admin(image_root, resolved, airflow_database, tmp_path):
    """deploy/init-airflow.sh with the airflow-init service's environment, against this machine's
    PostgreSQL instead of the compose service. It drops to root instead of the image's airflow
    user: this machine's Python lives under /root, which no other user may enter. While it runs,
    every process on the machine is watched for the admin's password."""
    if os.geteuid() != 0:
        pytest.fail("the init service runs as root; so must this test (as CI does here)")
    import psycopg2
    from werkzeug.security import check_password_hash

    service = resolved["services"]["airflow-init"]
    mounts = volume_mounts(service)
    [dags_volume] = [target for target, (source, _) in mounts.items() if source == "dags"]
    env = {**{k: str(v) for k, v in service["environment"].items()},
           "PATH": f"{image_root.venv / 'bin'}:/usr/bin:/bin", "AIRFLOW_USER": "root",
           "AIRFLOW_HOME": image_root.here(image_root.env["AIRFLOW_HOME"]),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_database}
    for key in ("MNIST_PIPELINE_HOME", "DAGS_VOLUME", "AIRFLOW__CORE__DAGS_FOLDER"):
        env[key] = image_root.here(env[key])
    assert env["DAGS_VOLUME"] == image_root.here(dags_volume)
    Path(env["DAGS_VOLUME"]).mkdir(parents=True)
    script = image_root.here(service["command"][0])
    assert Path(script).is_file(), f"the Dockerfile does not copy {service['command'][0]}"
    password = env["AIRFLOW_ADMIN_PASSWORD"]
    assert len(password) >= 16, "the env file's random password, which no other process could hold"

    for attempt in ("first", "again"):  # compose runs it on every `up`
        log = tmp_path / f"init-{attempt}.log"
        returncode, seen, polls = run_watched([script], env, password, log)
        output = log.read_text()
        assert returncode == 0, f"{attempt}: {output[-3000:]}"
        # The watcher did see Airflow's user command (it runs for seconds), with no password option.
        creates = [args for args in seen if "users" in args and "create" in args
                   and any(Path(a).name == "airflow" for a in args)]
        assert creates, f"{attempt}: the watcher ({polls} polls) never saw `airflow users create`"
        assert all(not {"-p", "--password", "--use-random-password"} & set(args) for args in creates), creates
        assert password not in output, f"{attempt}: the password is in the init log"
        assert ("already exists in the db" in output) == (attempt == "again"), output[-2000:]

    home = Path(env["MNIST_PIPELINE_HOME"])
    for folder in (home, home / "serving" / "mnist", Path(env["AIRFLOW_HOME"])):
        assert folder.is_dir(), folder
    copied = {p.name: p for p in Path(env["DAGS_VOLUME"]).iterdir()}
    assert {"__init__.py", "mnist_pipeline.py"} <= set(copied)
    assert copied["mnist_pipeline.py"].read_text() == (REPO / "dags" / "mnist_pipeline.py").read_text()
    connection = psycopg2.connect(airflow_database.replace("postgresql+psycopg2", "postgresql"))
    try:
        cursor = connection.cursor()
        # FAB's tables: the admin holds the Admin role, with the password that went in on stdin.
        cursor.execute("SELECT u.username, u.password FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
                       "JOIN ab_role r ON r.id = ur.role_id WHERE r.name = 'Admin'")
        [(username, password_hash)] = cursor.fetchall()
        assert username == env["AIRFLOW_ADMIN_USERNAME"]
        assert check_password_hash(password_hash, password)
        cursor.execute("SELECT version_num FROM alembic_version")
        assert cursor.fetchone(), "the schema was not migrated"
    finally:
        connection.close()


PROBE_DAG = """
from airflow.sdk import DAG, task

with DAG("deploy_probe", schedule=None) as dag:
    @task
    def reach_the_api_server():
        return "ok"

    reach_the_api_server()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_own_hostname(hostname: str, command: list[str]) -> list[str]:
    """`command` in a UTS namespace of its own named `hostname`, as a container has: Celery names
    its worker after it and `airflow jobs check --local` matches on it, so the checks below find
    these processes and not another worker or job on this machine."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *command]


@pytest.mark.e2e
def test_health_checks_pass_against_a_live_airflow(resolved, airflow_database, tmp_path):
    """The five Airflow services run for real, from this project's environment (the image's lock)
    with compose's environment, and each compose health check passes against them. Then FAB's
    token endpoint logs the init script's admin in (a wrong password is refused), and a triggered
    DAG's task runs on the Celery worker, which reaches the execution API with the token the
    scheduler signed with the shared JWT secret.

    What differs from the containers, so that this runs beside other tests on one machine:
    this machine's PostgreSQL and Redis (a database of its own) instead of the compose services;
    free ports instead of 8080, 8974 and the log servers' (the health checks are rewritten to
    match); each process in a UTS namespace with its own hostname, like a container's."""
    import json
    import random
    import time
    import uuid

    import requests

    services = resolved["services"]
    api_port, health_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deploy_probe.py").write_text(PROBE_DAG)
    local = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "MNIST_PIPELINE_HOME": str(home), "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_database,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_database.replace("+psycopg2", ""),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{random.randint(8, 15)}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }

    def environment(name: str) -> dict[str, str]:
        env = {key: str(value) for key, value in services[name]["environment"].items()}
        url = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        assert url == "http://airflow-apiserver:8080/execution/"
        return {**env, **local, "HOSTNAME": f"{name}-{suffix}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/"}

    def here(text: str) -> str:
        return (text.replace("$$", "$").replace("127.0.0.1:8080", f"127.0.0.1:{api_port}")
                .replace("127.0.0.1:8974", f"127.0.0.1:{health_port}"))

    # The admin and the schema, as the airflow-init service makes them (its script, this venv).
    init_env = {**environment("airflow-init"), "AIRFLOW_USER": "root", "MNIST_PIPELINE_HOME": str(home),
                "DAGS_VOLUME": str(tmp_path / "init-dags")}
    (tmp_path / "init-dags").mkdir()
    init = subprocess.run([str(REPO / "deploy" / "init-airflow.sh")], env=init_env, capture_output=True,
                          text=True, timeout=600)
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]

    started: dict[str, subprocess.Popen] = {}
    try:
        for name in AIRFLOW_SERVICES:
            command = [here(str(word)) if word != "8080" else str(api_port) for word in services[name]["command"]]
            with open(tmp_path / f"{name}.log", "w") as log:
                started[name] = subprocess.Popen(in_own_hostname(f"{name}-{suffix}", command), env=environment(name),
                                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 start_new_session=True, cwd=tmp_path)

        def log_tail(name: str) -> str:
            return f"--- {name}:\n" + (tmp_path / f"{name}.log").read_text()[-3000:]

        waiting = {name: services[name]["healthcheck"]["test"] for name in AIRFLOW_SERVICES}
        deadline = time.monotonic() + 300
        while waiting:
            for name, test in list(waiting.items()):
                assert started[name].poll() is None, f"{name} exited\n{log_tail(name)}"
                check = [here(word) for word in test[1:]] if test[0] == "CMD" else ["sh", "-c", here(test[1])]
                process = subprocess.run(in_own_hostname(f"{name}-{suffix}", check), env=environment(name),
                                         capture_output=True, text=True, timeout=120)
                if process.returncode == 0:
                    del waiting[name]
            assert time.monotonic() < deadline, \
                f"unhealthy after 300 s: {sorted(waiting)}\n" + "\n".join(log_tail(name) for name in waiting)
            time.sleep(3)

        api = f"http://127.0.0.1:{api_port}"
        admin = {"username": init_env["AIRFLOW_ADMIN_USERNAME"], "password": init_env["AIRFLOW_ADMIN_PASSWORD"]}
        refused = requests.post(f"{api}/auth/token", json={**admin, "password": "not-" + admin["password"]}, timeout=30)
        assert refused.status_code == 401, refused.text
        token = requests.post(f"{api}/auth/token", json=admin, timeout=30)
        assert token.status_code == 201, token.text
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert requests.get(f"{api}/api/v2/dags", timeout=30).status_code == 401, "the REST API needs a token"

        deadline = time.monotonic() + 180
        while session.get(f"{api}/api/v2/dags/deploy_probe", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the DAG processor did not parse the probe DAG\n" + \
                log_tail("airflow-dag-processor")
            time.sleep(3)
        run = session.post(f"{api}/api/v2/dags/deploy_probe/dagRuns", json={"logical_date": None}, timeout=30)
        assert run.status_code == 200, run.text
        run_url = f"{api}/api/v2/dags/deploy_probe/dagRuns/{run.json()['dag_run_id']}"
        deadline = time.monotonic() + 300
        while (state := session.get(run_url, timeout=30).json()["state"]) not in ("success", "failed"):
            assert time.monotonic() < deadline, f"the probe run is still {state}"
            time.sleep(3)
        tasks = session.get(f"{run_url}/taskInstances", timeout=30).json()["task_instances"]
        task_logs = "\n".join(p.read_text()[-2000:] for p in (home / "airflow" / "logs").rglob("*.log"))
        assert state == "success", json.dumps(tasks, indent=1)[:2000] + task_logs + log_tail("airflow-worker")
        [probe] = tasks
        assert probe["hostname"] == f"airflow-worker-{suffix}", "the task ran on this test's Celery worker"
    finally:
        for process in started.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- What TensorFlow Serving reads: a model pushed by a real run -------------------------------

@pytest.mark.e2e
def test_pushed_model_has_the_layout_and_signatures_tensorflow_serving_needs(served_home):
    from components.features import IMAGES_SIGNATURE, SERVING_SIGNATURE

    base = served_home.serving_dir(load_config(home=served_home))
    versions = [child for child in base.iterdir() if child.is_dir()]
    assert versions, f"nothing pushed under {base}"
    for version in versions:
        # TF Serving takes only folders named by a (64-bit) number as versions.
        assert version.name.isdigit() and int(version.name) < 2**63, version
        assert (version / "saved_model.pb").is_file()
        assert (version / "variables" / "variables.index").is_file()
        assert list((version / "variables").glob("variables.data-*"))

    latest = max(versions, key=lambda v: int(v.name))
    show = subprocess.run([str(Path(sys.executable).parent / "saved_model_cli"), "show", "--dir", str(latest), "--all"],
                          capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr
    assert "MetaGraphDef with tag-set: 'serve'" in show.stdout
    blocks = {match.group(1): block for block in show.stdout.split("signature_def[")[1:]
              if (match := re.match(r"'(\w+)'", block))}
    assert SERVING_SIGNATURE in blocks and IMAGES_SIGNATURE in blocks, sorted(blocks)

    def inputs_outputs(block: str) -> tuple[str, str]:
        inputs, _, rest = block.partition("The given SavedModel SignatureDef contains the following output(s):")
        return inputs, rest.split("Method name is:")[0]

    inputs, outputs = inputs_outputs(blocks[SERVING_SIGNATURE])
    assert "dtype: DT_STRING" in inputs and "shape: (-1)" in inputs
    inputs_images, outputs_images = inputs_outputs(blocks[IMAGES_SIGNATURE])
    assert "dtype: DT_FLOAT" in inputs_images and "shape: (-1, 28, 28)" in inputs_images
    for name in (SERVING_SIGNATURE, IMAGES_SIGNATURE):
        # TF Serving's Predict API takes predict, classify or regress signatures only.
        method = re.search(r"Method name is: (\S+)", blocks[name]).group(1)
        assert method in ("tensorflow/serving/predict", "tensorflow/serving/classify",
                          "tensorflow/serving/regress"), (name, method)
    for block in (outputs, outputs_images):
        assert re.search(r"outputs\['probabilities'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 10\)", block), block
        assert re.search(r"outputs\['digit'\] tensor_info:\s+dtype: DT_INT64\s+shape: \(-1\)", block), block
