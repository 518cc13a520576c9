"""`mnist-pipeline airflow up | status | down`: Airflow's services for this home (pipeline.services.lifecycle)."""
from __future__ import annotations

import json

from pipeline.home import Home
from pipeline.services.profiles import EXECUTORS


def cmd_airflow_up(args) -> int:
    from pipeline.services import lifecycle

    state = lifecycle.up(Home.from_env(), args.executor, args.workers, args.port, host=args.host)
    print(lifecycle.describe_up(state))
    return 0


def cmd_airflow_worker(args) -> int:
    from pipeline.services import lifecycle

    state = lifecycle.worker(Home.from_env(), args.name, timeout=args.timeout)
    print(lifecycle.describe_worker(state))
    return 0


def cmd_airflow_down(args) -> int:
    from pipeline.services import lifecycle

    lifecycle.down(Home.from_env(), timeout=args.timeout)
    return 0


def cmd_airflow_status(args) -> int:
    from pipeline.services import lifecycle

    info = lifecycle.status(Home.from_env())
    print(json.dumps(info, indent=2) if args.json else lifecycle.describe_status(info))
    return 0 if info.get("healthy") else 1


def add_commands(commands) -> None:
    airflow = commands.add_parser(
        "airflow", help="start, stop or inspect Airflow's API server, scheduler, DAG processor and workers")
    actions = airflow.add_subparsers(dest="airflow_command", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="start the API server (web UI), scheduler, DAG processor and Celery workers; `run` then "
                   "triggers runs on them")
    up.add_argument("--executor", choices=tuple(EXECUTORS),
                    help="how tasks run: on this machine, or on Celery workers (default: the profile's, local)")
    up.add_argument("--workers", type=int, metavar="N",
                    help="tasks at once: the LocalExecutor's parallelism, or the number of Celery workers, one "
                         "task each; 0 with Celery: no worker here, all on other hosts (`airflow worker`) "
                         "(default: 1 on the embedded profile, which allows no more; 2 in production)")
    up.add_argument("--port", type=int, default=8080, metavar="P",
                    help="the web UI's and REST API's port (default: 8080)")
    up.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                    help="the address of this machine the web UI, REST API and execution API listen on: another "
                         "than the loopback for workers on other hosts (default: 127.0.0.1, this machine only)")
    up.set_defaults(func=cmd_airflow_up)
    worker = actions.add_parser(
        "worker", help="start one Celery worker for this home that joins the Airflow of another host (its "
                       "`airflow up`); `down` and `status` cover it")
    worker.add_argument("--name", metavar="NAME",
                        help="how the scheduler host reaches this one, a host name or address: Airflow records it "
                             "as the host of each task and reads the task logs from here (default: this machine's "
                             "fully qualified name)")
    worker.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                        help="how long to wait for the worker to report ready (default: 300)")
    worker.set_defaults(func=cmd_airflow_worker)
    down = actions.add_parser("down", help="stop everything `up` started for this home")
    down.add_argument("--timeout", type=float, default=30, metavar="SECONDS",
                      help="how long to wait for a clean stop before killing (default: 30)")
    down.set_defaults(func=cmd_airflow_down)
    status = actions.add_parser(
        "status", help="what runs where: processes, ports, executor, databases, health (exit 1 if not healthy)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_airflow_status)
