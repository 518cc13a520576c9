"""`mnist-pipeline`: the command line. Each group of commands lives in `pipeline/commands/`."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from pipeline.cli import data, inspect, predict, run, scheduler, serving, storage
from pipeline.errors import ConfigError

# In the order `--help` lists them.
GROUPS = (data, run, inspect, scheduler, storage, predict, serving)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-pipeline",
        description="MNIST digits on TFX, orchestrated by Airflow. Everything is written under "
                    "$MNIST_PIPELINE_HOME (default ~/.mnist-pipeline).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, LookupError, RuntimeError) as err:
        print(f"mnist-pipeline {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nmnist-pipeline {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do, without a second
        # error when Python flushes stdout on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
