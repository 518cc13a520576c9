"""Airflow's processes for one home: the one way this project starts an Airflow command, finds
the processes that work for a home, and stops them.

Every Airflow process runs in <home>/airflow with the environment of
`environment.airflow_environment`; long-running ones are detached in their own session, with a
pid file and a log in <home>/airflow/services/.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.home import Home
from pipeline.services.profiles import AIRFLOW_DB_PASSWORD_ENV, postgres_database

if TYPE_CHECKING:
    import psutil  # for the annotations; each function imports it where it uses it, as before


class ServiceError(RuntimeError):
    """Airflow's services cannot be started, reached or used; the message says what to do."""


def airflow_command(args: list[str], teardown: bool = True) -> list[str]:
    """The command line of `airflow ARGS` in this project's environment; without Python's
    teardown at its end if not `teardown` (`pipeline.orchestration.airflow_main`)."""
    return [sys.executable, "-m", "airflow" if teardown else "pipeline.orchestration.airflow_main", *args]


def last_lines(path: Path, count: int = 15) -> str:
    if not path.is_file():
        return "(no log)"
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-count:])


def run_once(home: Home, name: str, args: list[str], env: dict[str, str], timeout: float = 600,
             stdin: str | None = None) -> str:
    """Run one Airflow command to its end; its output goes to services/<name>.log and is returned.

    `stdin` is written to the command's input (how a password reaches it without appearing on a
    command line). The command runs in a session of its own, without a controlling terminal, so
    that a prompt reads that input instead of the user's terminal.
    """
    log = home.service_file(name, "log")
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(airflow_command(args), env=env, input=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=None if stdin is not None else subprocess.DEVNULL,
                                text=True, timeout=timeout, start_new_session=True, cwd=home.airflow_home)
    except subprocess.TimeoutExpired:
        raise ServiceError(f"'airflow {' '.join(args[:2])}' did not finish in {timeout:.0f} s") from None
    log.write_text(result.stdout)
    if result.returncode != 0:
        raise ServiceError(f"'airflow {' '.join(args[:2])}' failed; the end of {log}:\n{last_lines(log)}")
    return result.stdout


def start_detached(home: Home, name: str, args: list[str], env: dict[str, str]) -> int:
    """Start a long-running Airflow process detached from this one (own session, no terminal)."""
    with open(home.service_file(name, "log"), "ab") as log:
        process = subprocess.Popen(airflow_command(args), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=home.airflow_home)
    (home.service_file(name, "pid")).write_text(f"{process.pid}\n")
    return process.pid


def start_attached(home: Home, args: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()) \
        -> subprocess.Popen:
    """An Airflow command whose output this process reads line by line (`airflow dags test`); it
    ends without Python's teardown (`pipeline.orchestration.airflow_main`).

    It runs in a process group of its own: Ctrl-C in the terminal reaches only this process,
    which then stops the whole group in order (`end_group`) while it keeps reading the output,
    so no process is left blocked writing to a pipe nobody reads. `pass_fds` stay open in it
    (the home's run lock). If this process is killed outright, the kernel kills it too."""
    return subprocess.Popen(airflow_command(args, teardown=False), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1,
                            cwd=home.airflow_home, start_new_session=True, pass_fds=pass_fds,
                            preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """In the child, before it runs Airflow: SIGKILL when the parent dies (Linux's PR_SET_PDEATHSIG)."""

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def end_group(process: subprocess.Popen, grace: float, now: bool = False) -> None:
    """SIGTERM a process started by `start_attached` and everything it started, then SIGKILL
    whatever is left after `grace` seconds (at once with `now`). Descendants that moved to a
    session of their own are found through the process tree before anything is signalled."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.Error:
        tree = []
    for sig in ((signal.SIGKILL,) if now else (signal.SIGTERM, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        for member in tree:
            with contextlib.suppress(psutil.Error):
                member.send_signal(sig)
        if sig == signal.SIGTERM:
            _, tree = psutil.wait_procs(tree, timeout=grace)


def in_process_runs(home: Home) -> list:
    """The live `airflow dags test` processes of this home (in-process `mnist-pipeline run`)."""
    return [p for p in home_processes(home, in_process_runs=True) if "dags test" in " ".join(p.cmdline())]


# --- Finding and stopping a home's processes ----------------------------------------------------

def belongs(process, home: Home) -> bool:
    """Whether a process works for this home: every Airflow process of a home starts in
    <home>/airflow, and their children inherit that working folder (their environment can be
    overwritten by the process titles Airflow sets, so it is no proof)."""
    command = " ".join(process.cmdline())
    return process.cwd() == str(home.airflow_home) and any(n in command for n in ("airflow", "celery", "uvicorn"))


def find(pid: int, home: Home):
    """The live process with this pid working for this home, or None (gone, a zombie, or the pid
    now belongs to another program)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process if process.status() != psutil.STATUS_ZOMBIE and belongs(process, home) else None
    except psutil.Error:
        return None


def home_processes(home: Home, in_process_runs: bool = False) -> list:
    """Every process of this home's Airflow services, also those that lost their parent (say, the
    task of a killed worker); with `in_process_runs`, also in-process runs (`airflow dags test`),
    which are not services: `airflow down` leaves them alone."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.status() != psutil.STATUS_ZOMBIE and belongs(process, home) \
                    and (in_process_runs or "dags test" not in " ".join(process.cmdline())):
                found.append(process)
        except psutil.Error:
            continue
    return found


def listening_ports(process) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket that a process or its children listen on."""
    import psutil

    ports = set()
    try:
        for p in [process, *process.children(recursive=True)]:
            ports |= {(c.laddr.ip, c.laddr.port) for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    except psutil.Error:
        pass
    return sorted(ports)


def stop(home: Home, roots: dict[str, psutil.Process], timeout: float) -> int:
    """SIGTERM the root processes and their children, wait up to `timeout` seconds, then SIGKILL
    whatever of this home is left (also what was started meanwhile). Returns how many were killed."""
    import psutil

    everything = []
    for process in roots.values():
        try:
            everything += [process, *process.children(recursive=True)]
            process.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, left = psutil.wait_procs(everything + home_processes(home), timeout=timeout)
    left = {p.pid: p for p in left}
    for process in [*left.values(), *home_processes(home)]:
        try:
            for child in process.children(recursive=True):
                left[child.pid] = child
        except psutil.Error:
            pass
        left[process.pid] = process
    for process in left.values():
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(list(left.values()), timeout=10)
    return len(left)


# --- Ports ------------------------------------------------------------------------------------

def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether this process could listen on host:port (False also when `host` is no address of
    this machine)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Airflow's database -------------------------------------------------------------------------

def check_postgres(url: str) -> None:
    """Fail with what to do when Airflow's PostgreSQL database cannot be reached."""
    import psycopg2


    db = postgres_database(url)
    try:
        psycopg2.connect(host=db["host"], port=db["port"], user=db["user"], dbname=db["database"],
                         password=os.environ.get(AIRFLOW_DB_PASSWORD_ENV) or None, connect_timeout=5).close()
    except psycopg2.Error as err:
        raise ServiceError(f"cannot reach Airflow's database {url}: {str(err).strip()} (is PostgreSQL running, "
                           f"does the database exist, is ${AIRFLOW_DB_PASSWORD_ENV} right?)") from None


def migrate(home: Home, env: dict[str, str], say=print) -> None:
    """Create or upgrade Airflow's database (and the FAB auth manager's tables in it)."""
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    where = home.airflow_home / "airflow.db" if url.startswith("sqlite") else url.split("@")[-1]
    say(f"migrating Airflow's database ({where})")
    home.airflow_home.mkdir(parents=True, exist_ok=True)
    run_once(home, "migrate", ["db", "migrate"], env, timeout=900)
    protect_config(home)


def database_ready(home: Home, env: dict[str, str]) -> bool:
    """Whether Airflow's database has its tables (for `run` in-process, which migrates only once)."""
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if url.startswith("sqlite"):
        return (home.airflow_home / "airflow.db").exists()
    check_postgres_url = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    import psycopg2

    try:
        with psycopg2.connect(check_postgres_url, connect_timeout=5) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
            return cursor.fetchone()[0]
    except psycopg2.Error as err:
        raise ServiceError(f"cannot reach Airflow's database: {str(err).strip()}") from None


def unfinished_dag_runs(env: dict[str, str], dag_id: str) -> list[str]:
    """The DAG's runs that Airflow's database holds as unfinished (running or queued): read once
    before the scheduler starts (no Airflow import), so that `airflow up` can close those a crash
    left behind before a new scheduler adopts their tasks and runs them again."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(
                "SELECT run_id FROM dag_run WHERE dag_id = :dag AND state IN ('running', 'queued')"), {"dag": dag_id})
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def protect_config(home: Home) -> None:
    """airflow.cfg holds the keys Airflow generated (Fernet, API secret, JWT secret): owner only."""
    config_file = home.airflow_home / "airflow.cfg"
    if config_file.is_file():
        config_file.chmod(0o600)
