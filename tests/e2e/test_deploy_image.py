"""The image, built without a Docker engine by replaying the Dockerfile: its install steps run
for real in a fresh virtualenv (with this machine's Python 3.11), and the airflow-init service's
script (deploy/init-airflow.sh) runs from it against this machine's PostgreSQL, every process on
the machine watched for the admin's password on a command line or in an environment."""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import COMPOSE_FILE, REPO, dockerfile_env, dockerfile_instructions, expand, volume_mounts


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
    compose_env = yaml.safe_load(COMPOSE_FILE.read_text())["x-airflow-common"]["environment"]
    compose_dags = compose_env["AIRFLOW__CORE__DAGS_FOLDER"]
    assert dags_folder == image_root.here(compose_dags)
    assert (Path(dags_folder) / "mnist_pipeline.py").is_file()


def processes() -> dict[int, tuple[int, bytes, bytes]]:
    """pid -> (parent pid, arguments, environment) of every process on this machine, NUL-separated."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            table[int(entry.name)] = (int(stat.rpartition(")")[2].split()[1]),
                                      Path(entry.path, "cmdline").read_bytes(),
                                      Path(entry.path, "environ").read_bytes())
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
    for folder in (home, Path(env["AIRFLOW_HOME"])):
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

