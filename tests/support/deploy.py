"""The deployable stack (docker-compose.yml, .env.example, Dockerfile, deploy/) read as the
deploy tests read it: the files, the compose file resolved by `docker-compose config`, and a
fresh PostgreSQL database for Airflow. Registered as a plugin in tests/conftest.py: its fixtures
serve tests/unit/deploy/ and the deploy tests in tests/e2e/."""
from __future__ import annotations

import base64
import os
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.local_databases import postgres_database

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def resolved(env_file) -> dict:
    """docker-compose.yml as `docker-compose config` resolves it with `env_file`."""
    process = compose_config(env_file)
    assert process.returncode == 0, process.stderr
    return yaml.safe_load(process.stdout)


@pytest.fixture(scope="session")
def raw() -> dict:
    """docker-compose.yml as written."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def airflow_database():
    """A fresh database on this machine's PostgreSQL, as SQLAlchemy's URL for psycopg2."""
    with postgres_database() as url:
        yield url.replace("postgresql://", "postgresql+psycopg2://", 1)
