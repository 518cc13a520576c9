"""`mnist-pipeline storage up | status | down`: an S3 object store for the embedded demo, a
SeaweedFS server in the background (pipeline.services.object_store)."""
from __future__ import annotations

import shlex
from pathlib import Path

from pipeline.services import object_store

STORAGE_ENV = "MNIST_PIPELINE_STORAGE"
PREFIX = "pipeline"


def _folder(args) -> Path:
    return Path(args.dir).expanduser().resolve() if args.dir else object_store.default_folder()


def _print_exports(server, bucket: str) -> None:
    env = object_store.aws_environment(server.endpoint, server.keys) | {STORAGE_ENV: f"s3://{bucket}/{PREFIX}"}
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")


def cmd_storage_up(args) -> int:
    folder = _folder(args)
    server, bucket, was_running = object_store.up(folder, args.port, args.bucket)
    state = "runs already" if was_running else "started"
    print(f"# SeaweedFS's S3 API {state} at {server.endpoint} (pid {server.pid}), its data in {folder}, "
          f"bucket {bucket}; to use it:")
    _print_exports(server, bucket)
    return 0


def cmd_storage_status(args) -> int:
    folder = _folder(args)
    found = object_store.running(folder)
    if not found:
        print(f"no object store runs for {folder}: start it with `mnist-pipeline storage up`")
        return 1
    server, bucket = found
    answers = server.answers()
    print(f"SeaweedFS's S3 API at {server.endpoint} (pid {server.pid}), its data in {folder}, bucket {bucket}: "
          f"{'answers' if answers else 'does NOT answer, see ' + str(server.log)}")
    return 0 if answers else 1


def cmd_storage_down(args) -> int:
    folder = _folder(args)
    print(f"stopped the object store of {folder}" if object_store.down(folder, args.timeout)
          else f"no object store runs for {folder}")
    return 0


def add_commands(commands) -> None:
    storage = commands.add_parser(
        "storage", help="an S3 object store for the embedded demo: start, stop or inspect a SeaweedFS server")
    actions = storage.add_subparsers(dest="storage_command", required=True, metavar="ACTION")
    dir_help = "the server's folder: its data, log, keys and state (default: $MNIST_PIPELINE_HOME/object-store)"
    up = actions.add_parser(
        "up", help="start SeaweedFS's S3 API in the background unless it runs, create the bucket, and print the "
                   "variables to export")
    up.add_argument("--dir", metavar="D", help=dir_help)
    up.add_argument("--port", type=int, default=object_store.DEFAULT_PORT, metavar="P",
                    help=f"the S3 API's port on 127.0.0.1 (default: {object_store.DEFAULT_PORT})")
    up.add_argument("--bucket", default=object_store.DEFAULT_BUCKET, metavar="B",
                    help=f"the bucket to create; ${STORAGE_ENV} points at s3://B/{PREFIX} "
                         f"(default: {object_store.DEFAULT_BUCKET})")
    up.set_defaults(func=cmd_storage_up)
    status = actions.add_parser("status", help="whether the object store runs and answers (exit 1 if not)")
    status.add_argument("--dir", metavar="D", help=dir_help)
    status.set_defaults(func=cmd_storage_status)
    down = actions.add_parser("down", help="stop the object store (its data stays in its folder)")
    down.add_argument("--dir", metavar="D", help=dir_help)
    down.add_argument("--timeout", type=float, default=object_store.STOP_TIMEOUT, metavar="SECONDS",
                      help="how long to wait for a clean stop before killing (default: "
                           f"{object_store.STOP_TIMEOUT:.0f}; a clean stop takes about 15)")
    down.set_defaults(func=cmd_storage_down)
