"""Airflow 3 as a team runs it: `mnist-pipeline airflow up/down/status` for one home.

`up` starts the API server (the web UI and REST API, on 127.0.0.1 or `--host`), the scheduler, the
DAG processor and, for the CeleryExecutor, N Celery workers (0: all on other hosts), each detached
with a pid file and a log in <home>/airflow/services/. `worker` starts one Celery worker for a
home on another host, joining that Airflow (docs/airflow.md, "Workers on other hosts").
No triggerer: no task of this DAG defers, and the approval step
(pipeline/orchestration/approval.py) waits in Airflow 3.3's `awaiting_input` state, which the API
server (an answer) and the scheduler (the time limit) resume without one. No local log server:
every process shares <home>/airflow/logs, where the API server reads the task logs, so no port is
opened but the API server's (a worker on another host serves its own logs). Spans written while
Airflow was down get their data set events once it is up (`pipeline.services.data_events`).
`mnist-pipeline run` then triggers DAG runs through the REST API (`pipeline.services.airflow_api`)
and follows them. Without `up`, `run` runs the DAG in-process.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import MLMD_ENV, load_config
from pipeline.home import Home
from pipeline.metadata.store import open_store
from pipeline.orchestration.airflow_dag import DAG_ID
from pipeline.services import (
    airflow_api,
    data_events,
    environment,
    home_lock,
    logins,
    processes,
)
from pipeline.services.airflow_api import Api
from pipeline.services.processes import ServiceError
from pipeline.services.profiles import AIRFLOW_DB_ENV, API_URL_ENV, CELERY_QUEUE_ENV, EXECUTORS, load_profile
from pipeline.storage.settings import STORAGE_ENV

# Stopped in this order: the scheduler first, so that it hands out no new task while the rest stops.
ORDER = ("scheduler", "dag-processor", "worker", "api-server")

LOOPBACK = "127.0.0.1"

# Airflow's own variable for `[api] secret_key`, which signs the API server's requests for task
# logs: a worker on another host serves its logs to the API server and must share it.
SECRET_KEY_ENV = "AIRFLOW__API__SECRET_KEY"

# `worker`: how long a Celery worker on another host may take to report ready (it imports TFX first).
WORKER_READY_TIMEOUT = 300.0


def read_state(home: Home) -> dict[str, Any] | None:
    path = home.services_state
    return json.loads(path.read_text()) if path.is_file() else None


def _alive(state: dict[str, Any]) -> dict[str, bool]:
    home = Home(Path(state["home"]))
    return {name: processes.find(pid, home) is not None for name, pid in state.get("processes", {}).items()}


def _check_broker(url: str) -> None:
    import kombu

    try:
        with kombu.Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as err:  # kombu raises the transport's own errors
        raise ServiceError(f"cannot reach the Celery broker {url}: {err}") from None


def _check_mlmd(home: Home, parallel: bool) -> str:
    config = load_config(home=home)
    if parallel and not config.metadata_store:
        raise ServiceError("tasks that run in parallel need ML Metadata on MySQL or MariaDB (SQLite cannot take "
                           f"parallel writers): set ${MLMD_ENV} to mysql://USER@HOST:PORT/DATABASE")
    if config.metadata_store:
        open_store(home, config)  # raises a clear RuntimeError when unreachable
    return config.metadata_store or str(home.metadata_db)


def _refuse_if_up(home: Home) -> None:
    state = read_state(home)
    if state:
        running = [f"{name} (pid {state['processes'][name]})" for name, alive in _alive(state).items() if alive]
        if running:
            raise ServiceError(f"Airflow is already up for {home.root}: {', '.join(running)}; "
                               "stop it first with `mnist-pipeline airflow down`")
        _clear_state(home)


def _check_before_start(home: Home, executor: str, workers: int, port: int, profile, host: str = LOOPBACK) -> str:
    if executor not in EXECUTORS:
        raise ServiceError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 0 or (workers == 0 and executor != "celery"):
        raise ServiceError(f"--workers must be at least 1 (0 only with --executor celery, when every worker runs "
                           f"on another host), got {workers}")
    if executor == "celery" and not profile.database:
        raise ServiceError(f"the CeleryExecutor needs Airflow's database on PostgreSQL: set "
                           f"${AIRFLOW_DB_ENV}=postgresql://USER@HOST:PORT/DATABASE (the production profile)")
    if not profile.database and workers > 1:
        raise ServiceError(f"the embedded profile (SQLite) runs one task at a time; for {workers} at once set "
                           f"${AIRFLOW_DB_ENV}=postgresql://USER@HOST:PORT/DATABASE (the production profile)")
    if executor == "celery" and (workers == 0 or host != LOOPBACK) and not os.environ.get(SECRET_KEY_ENV):
        raise ServiceError(f"workers on other hosts serve their task logs to this API server, signed with a key every "
                           f"host shares: set ${SECRET_KEY_ENV} (the same on every host, in the environment only)")
    _refuse_if_up(home)
    if not processes.port_free(port, host):
        if host != LOOPBACK and processes.port_free(0, host) is False:
            raise ServiceError(f"--host {host} is not an address of this machine: name one it listens on")
        raise ServiceError(f"port {port} on {host} is taken by another program: choose another with --port")
    if profile.database:
        processes.check_postgres(profile.database)
    if executor == "celery":
        _check_broker(profile.broker)
    return _check_mlmd(home, parallel=workers > 1 or executor == "celery")


def up(home: Home, executor: str | None = None, workers: int | None = None, port: int = 8080,
       timeout: float = 600, say: Callable[[str], None] = print, host: str = "127.0.0.1") -> dict[str, Any]:
    """Start Airflow for `home` and wait until the scheduler is healthy and the DAG loaded. The
    API server listens on `host` (this machine only by default; another of its addresses for
    workers on other hosts); with the CeleryExecutor, `workers` may be 0: every worker then runs
    on another host (`worker`)."""

    profile = load_profile(home)
    executor = executor or profile.default_executor
    workers = workers if workers is not None else (2 if profile.database else 1)
    mlmd = _check_before_start(home, executor, workers, port, profile, host)
    if holder := home_lock.holder(home):  # its executions would look orphaned to the scheduler's runs
        raise ServiceError(home_lock.refusal(home, holder))
    _stop_leftovers(home, say)

    home.airflow_services.mkdir(parents=True, exist_ok=True)
    env = environment.airflow_environment(home, executor)
    url = environment.api_server_url(host, port)
    env.update(environment.api_server_settings(port, host))
    if executor == "local":
        env["AIRFLOW__CORE__PARALLELISM"] = str(workers)
    processes.migrate(home, env, say)
    database = profile.database or env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    state: dict[str, Any] = {
        "home": str(home.root), "executor": EXECUTORS[executor], "profile": profile.name, "port": port,
        "host": host, "url": url, "database": database, "metadata_store": mlmd, "workers": workers, "processes": {},
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if executor == "celery":
        state.update(broker=profile.broker, queue=env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"])
    started = state["processes"]
    # Runs a crash left running are closed before a scheduler starts: a new scheduler adopts the
    # tasks of a dead one and would run them again in the crashed run.
    leftovers = processes.unfinished_dag_runs(env, DAG_ID)
    try:
        users = logins.Users(home, env)

        def start_scheduler() -> None:
            # The log server is skipped: the API server reads the logs from the shared folder.
            started["scheduler"] = processes.start_detached(home, "scheduler", ["scheduler", "--skip-serve-logs"],
                                                            env)
            home.services_state.write_text(json.dumps(state, indent=2))

        if not leftovers:
            start_scheduler()
        started["dag-processor"] = processes.start_detached(home, "dag-processor", ["dag-processor"], env)
        if executor == "celery":
            for number in range(1, workers + 1):
                name = f"worker-{number}"
                started[name] = processes.start_detached(home, name, [
                    "celery", "worker", "--celery-hostname", f"{state['queue']}-{number}@%h",
                    "--pid", str(home.service_file(name, "airflow-pid")),
                    "--skip-serve-logs", "--without-gossip", "--without-mingle"], env)
        home.services_state.write_text(json.dumps(state, indent=2))
        # The API server sets up FAB's roles as it starts, as `users create` does: one after the other.
        admin_password = users.wait()
        started["api-server"] = processes.start_detached(home, "api-server", [
            "api-server", "--host", host, "--port", str(port), "--workers", "1"], env)
        home.services_state.write_text(json.dumps(state, indent=2))
        api = Api(url, *logins.api_credentials(home))
        if leftovers:
            _wait_for_api(home, api, state, timeout)
            _close_unserved_runs(home, api, say)
            start_scheduler()
        say(f"started {', '.join(f'{n} (pid {p})' for n, p in started.items())}; waiting for the "
            "scheduler to report healthy and the DAG to load")
        _wait_until_ready(home, api, state, DAG_ID, timeout)
        for span in data_events.announce_waiting_spans(home, api):
            say(f"span {span} was written while Airflow was down: emitted its data set event, a run ingests it")
    except BaseException:
        down(home, say=lambda _: None)
        raise
    state["admin_password"] = admin_password
    return state


def worker(home: Home, name: str | None = None, timeout: float = WORKER_READY_TIMEOUT,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Start one detached Celery worker for `home` that joins the Airflow of another host (its
    `airflow up`): the same Airflow database, broker and queue, the scheduler host's API server,
    MLMD on MySQL/MariaDB and storage in object storage, so that its tasks need nothing from
    another host's disk. `name` is how the scheduler host reaches this one (Airflow records it as
    each task's host and reads the task logs from this worker's log server there); default: the
    machine's fully qualified name. Returns the state `status` and `down` read."""
    import socket

    profile = load_profile(home)
    name = name or socket.getfqdn()
    missing = [what for what, ok in (
        (f"${AIRFLOW_DB_ENV} (the scheduler host's PostgreSQL database)", profile.database),
        (f"${API_URL_ENV} (the scheduler host's API server, http://HOST:PORT)", profile.api_url),
        (f"${CELERY_QUEUE_ENV} (the queue the scheduler host's `airflow up` prints)", profile.queue),
        (f"${STORAGE_ENV} (s3://BUCKET/PREFIX: artifacts cannot stay on one host's disk)", home.storage),
        (f"${SECRET_KEY_ENV} (the scheduler host's [api] secret_key: the API server reads this worker's task "
         "logs with it)", os.environ.get(SECRET_KEY_ENV)),
    ) if not ok]
    if missing:
        raise ServiceError("a worker on another host needs, in its environment or the airflow: section of "
                           f"{home.config_file} (the secret key in the environment only): " + "; ".join(missing))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.:-]*", name):
        raise ServiceError(f"--name must be a host name or address that the scheduler host reaches, got {name!r}")
    _refuse_if_up(home)
    if holder := home_lock.holder(home):
        raise ServiceError(home_lock.refusal(home, holder))
    processes.check_postgres(profile.database)
    _check_broker(profile.broker)
    mlmd = _check_mlmd(home, parallel=True)
    api_url = profile.api_url.rstrip("/")
    if Api(api_url).health() is None:
        raise ServiceError(f"the API server {api_url} does not answer: is `mnist-pipeline airflow up --host ADDR` "
                           "running on the scheduler host, and is ADDR reachable from here?")
    _stop_leftovers(home, say)
    home.airflow_services.mkdir(parents=True, exist_ok=True)
    env = environment.airflow_environment(home, "celery")
    env.update(environment.worker_settings(api_url, name))
    state: dict[str, Any] = {
        "home": str(home.root), "role": "worker", "name": name, "executor": EXECUTORS["celery"],
        "profile": profile.name, "url": api_url, "database": profile.database, "metadata_store": mlmd,
        "storage": home.storage, "broker": profile.broker, "queue": env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"],
        "workers": 1, "processes": {},
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    log = home.service_file("worker", "log")
    log.unlink(missing_ok=True)
    # Its log server stays on: the API server reads this host's task logs from it (signed with the
    # shared [api] secret_key). No other port is opened.
    state["processes"]["worker"] = processes.start_detached(home, "worker", [
        "celery", "worker", "--celery-hostname", f"{state['queue']}-{name}@%h",
        "--pid", str(home.service_file("worker", "airflow-pid")), "--without-gossip", "--without-mingle"], env)
    home.services_state.write_text(json.dumps(state, indent=2))
    try:
        deadline = time.monotonic() + timeout
        ready = re.compile(rf"{re.escape(state['queue'])}-{re.escape(name)}@\S+ ready")
        while not ready.search(log.read_text(errors="replace") if log.is_file() else ""):
            _check_alive(home, state)
            if time.monotonic() > deadline:
                raise ServiceError(f"the worker was not ready after {timeout:.0f} s; its log: {log}")
            time.sleep(1)
    except BaseException:
        down(home, say=lambda _: None)
        raise
    return state


def _close_unserved_runs(home: Home, api: Api, say: Callable[[str], None]) -> None:
    """The runs no process serves any more (`airflow_api.fail_unserved_runs`): failed in Airflow;
    those an earlier Airflow of this home left running also have their unfinished executions
    CANCELED in MLMD, with why."""
    from pipeline.metadata.records import mark_interrupted

    now_ms = int(time.time() * 1000)
    for run_id, in_process, tasks in airflow_api.fail_unserved_runs(
            api, DAG_ID, test_runs=not processes.in_process_runs(home)):
        if in_process:
            say(f"marked failed run {run_id}: an in-process run whose process was killed (`mnist-pipeline "
                "resume` runs it again)")
            continue
        steps = mark_interrupted(home, run_id, "the loss of Airflow's processes (closed by `airflow up`)", now_ms,
                                 end_unknown=True)
        at = ", ".join(dict.fromkeys(steps + tasks)) or "no step"
        say(f"closed run {run_id}: Airflow's processes died while it ran (interrupted at {at}); "
            "`mnist-pipeline resume` runs it again")


def _stop_leftovers(home: Home, say: Callable[[str], None]) -> None:
    """Processes of an earlier Airflow of this home that outlived it (say, a task whose supervisor
    was killed) would go on writing to MLMD: they are stopped before anything starts."""
    leftovers = processes.home_processes(home)
    if leftovers:
        processes.stop(home, {}, timeout=10)
        say(f"stopped {len(leftovers)} leftover process(es) of an earlier Airflow of this home "
            f"(pids {', '.join(str(p.pid) for p in leftovers)})")


def _check_alive(home: Home, state: dict[str, Any]) -> None:
    for name, alive in _alive(state).items():
        if not alive:
            log = home.service_file(name, "log")
            raise ServiceError(f"the {name} stopped while starting; the end of its log ({log}):\n"
                               f"{processes.last_lines(log)}")


def _wait_for_api(home: Home, api: Api, state: dict[str, Any], timeout: float) -> None:
    """Until the API server answers (before the scheduler starts, its health says nothing of it)."""
    deadline = time.monotonic() + timeout
    while api.health() is None:
        _check_alive(home, state)
        if time.monotonic() > deadline:
            raise ServiceError(f"the API server did not answer within {timeout:.0f} s; its log is in "
                               f"{home.airflow_services}")
        time.sleep(1)


def _wait_until_ready(home: Home, api: Api, state: dict[str, Any], dag_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    healthy = loaded = False
    while time.monotonic() < deadline:
        _check_alive(home, state)
        health = api.health()
        healthy = bool(health and health.get("scheduler", {}).get("status") == "healthy")
        if healthy and not loaded:
            dag = api.get(f"/dags/{dag_id}", missing_ok=True)
            if dag is None:
                errors = api.get("/importErrors")["import_errors"]
                if errors:
                    raise ServiceError("the DAG did not load: " + "\n".join(
                        f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors))
            else:
                if dag["is_paused"]:
                    api.patch(f"/dags/{dag_id}", {"is_paused": False})
                loaded = True
        if healthy and loaded:
            return
        time.sleep(2)
    raise ServiceError(f"Airflow was not ready after {timeout:.0f} s (scheduler healthy: {healthy}, DAG loaded: "
                       f"{loaded}); the logs are in {home.airflow_services}")


def _clear_state(home: Home) -> None:
    for path in home.airflow_services.glob("*.pid"):
        path.unlink()
    home.services_state.unlink(missing_ok=True)


def down(home: Home, timeout: float = 30, say: Callable[[str], None] = print) -> list[str]:
    """Stop every process of this home: SIGTERM, then SIGKILL what is left after `timeout` seconds."""
    state = read_state(home)
    roots = {}
    if state:
        for name, pid in sorted(state.get("processes", {}).items(),
                                key=lambda item: ORDER.index(item[0].rstrip("-0123456789"))):
            process = processes.find(pid, home)
            if process:
                roots[name] = process
    if not roots and not processes.home_processes(home):
        if state:
            _clear_state(home)
        say(f"nothing runs for {home.root}")
        return []
    killed = processes.stop(home, roots, timeout)
    _clear_state(home)
    stopped = [f"{name} (pid {p.pid})" for name, p in roots.items()]
    say(f"stopped {', '.join(stopped) or 'leftover processes'}"
        + (f"; {killed} process(es) that did not stop within {timeout:.0f} s were killed" if killed else ""))
    return stopped


def status(home: Home) -> dict[str, Any]:
    """What runs for this home, checked now: processes, ports, executor, databases, health."""
    state = read_state(home)
    if not state:
        profile = load_profile(home)
        return {"home": str(home.root), "up": False, "profile": profile.name,
                "executor": EXECUTORS[profile.default_executor],
                "leftover_pids": [p.pid for p in processes.home_processes(home)]}
    found = {}
    for name, pid in state["processes"].items():
        process = processes.find(pid, home)
        listening = processes.listening_ports(process) if process else []
        found[name] = {"pid": pid, "running": process is not None,
                       "listening": [f"{address}:{port}" for address, port in listening]}
    health = Api(state["url"]).health()
    result: dict[str, Any] = {key: state.get(key) for key in (
        "home", "profile", "executor", "url", "database", "metadata_store", "broker", "queue", "workers", "started")}
    if state.get("role") == "worker":
        result.update(role="worker", name=state["name"], storage=state.get("storage"))
    result.update(up=all(p["running"] for p in found.values()), processes=found,
                  health={"api_server": health is not None,
                          **{part: (health or {}).get(part, {}).get("status")
                             for part in ("scheduler", "dag_processor", "metadatabase")},
                          "latest_scheduler_heartbeat": (health or {}).get("scheduler", {}).get(
                              "latest_scheduler_heartbeat")},
                  logs=str(home.airflow_services))
    result["healthy"] = result["up"] and result["health"]["scheduler"] == "healthy"
    return result


def running_api(home: Home) -> tuple[Api, dict[str, Any]] | None:
    """The REST API of the scheduler running for this home, or None when `up` was not run."""
    state = read_state(home)
    if not state:
        return None
    if state.get("role") == "worker":
        raise ServiceError(f"{home.root} runs only a Celery worker of the Airflow at {state['url']}: trigger runs "
                           "on the scheduler host (`mnist-pipeline run` there, or the web UI)")
    alive = _alive(state)
    if not (alive.get("scheduler") and alive.get("api-server")):
        dead = ", ".join(name for name, ok in alive.items() if not ok)
        raise ServiceError(f"Airflow was started for {home.root} but its {dead} no longer run(s): run "
                           "`mnist-pipeline airflow down`, then `up` again (or only `down` to run in-process)")
    return Api(state["url"], *logins.api_credentials(home)), state


# --- What `up` and `status` print -------------------------------------------------------------

def describe_up(state: dict[str, Any]) -> str:
    at_once = f"{state['workers']} task(s) at once" if state["workers"] else "no worker here: tasks run on other hosts"
    lines = [f"Airflow is up for {state['home']} ({state['profile']} profile, {state['executor']}, {at_once})",
             f"  web UI:    {state['url']}"]
    if state.get("admin_password"):
        lines.append(f"  login:     {logins.ADMIN_USER} / {state['admin_password']}   (shown only now: keep it)")
    else:
        lines.append(f"  login:     {logins.ADMIN_USER} (it existed already; its password was shown when it was "
                     "created)")
    lines += [f"  database:  {state['database']}", f"  MLMD:      {state['metadata_store']}"]
    if state.get("broker"):
        lines.append(f"  broker:    {state['broker']} (queue {state['queue']})")
    if state.get("executor") == EXECUTORS["celery"] and (state["workers"] == 0 or state.get("host") != LOOPBACK):
        lines.append(f"  workers on other hosts: `mnist-pipeline airflow worker` there, with "
                     f"${API_URL_ENV}={state['url']} and ${CELERY_QUEUE_ENV}={state['queue']}")
    lines += ["  processes: " + ", ".join(f"{n} {p}" for n, p in state["processes"].items()),
              f"  logs:      {Home(Path(state['home'])).airflow_services}",
              "`mnist-pipeline run` now triggers runs on this scheduler; stop it with `mnist-pipeline airflow down`"]
    return "\n".join(lines)


def describe_worker(state: dict[str, Any]) -> str:
    return "\n".join([
        f"A Celery worker is up for {state['home']}, as {state['name']}, for the Airflow at {state['url']}",
        f"  queue:     {state['queue']} on {state['broker']}",
        f"  database:  {state['database']}",
        f"  MLMD:      {state['metadata_store']}",
        f"  storage:   {state['storage']}",
        f"  processes: worker {state['processes']['worker']}",
        f"  logs:      {Home(Path(state['home'])).airflow_services}",
        "stop it with `mnist-pipeline airflow down`"])


def describe_status(info: dict[str, Any]) -> str:
    if "processes" not in info:
        lines = [f"Airflow is not running for {info['home']} ({info['profile']} profile, {info['executor']}); "
                 "`mnist-pipeline run` runs the DAG in-process. Start it with `mnist-pipeline airflow up`."]
        if info["leftover_pids"]:
            lines.append(f"  but processes of this home still run: {info['leftover_pids']} "
                         "(stop them with `mnist-pipeline airflow down`)")
        return "\n".join(lines)
    health = info["health"]
    verdict = "up and healthy" if info["healthy"] else "NOT healthy" if info["up"] else "partly DOWN"
    what = f"a Celery worker ({info['name']}) of the Airflow at {info['url']}, " if info.get("role") else ""
    lines = [f"Airflow for {info['home']}: {verdict} ({what}{info['profile']} profile, {info['executor']}, since "
             f"{info['started']})",
             f"  web UI:    {info['url']}  (API server answers: {'yes' if health['api_server'] else 'NO'}, "
             f"scheduler: {health['scheduler'] or 'unknown'}, DAG processor: {health['dag_processor'] or 'unknown'}, "
             f"last heartbeat {health['latest_scheduler_heartbeat'] or '-'})"]
    for name, process in info["processes"].items():
        ports = f"  listening on {', '.join(process['listening'])}" if process["listening"] else ""
        lines.append(f"  {name:<13} pid {process['pid']:<8} {'running' if process['running'] else 'NOT RUNNING'}"
                     f"{ports}")
    lines += [f"  database:  {info['database']}", f"  MLMD:      {info['metadata_store']}"]
    if info.get("broker"):
        lines.append(f"  broker:    {info['broker']} (queue {info['queue']})")
    lines.append(f"  logs:      {info['logs']}")
    return "\n".join(lines)
