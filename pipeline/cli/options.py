"""The `mnist-pipeline` commands, one module per group; each adds its commands with `add_commands`.

data (data, config), run (run, resume), inspect (runs, show, lineage, compare, report,
schema-diff), scheduler (airflow up/down/status), storage (storage up/down/status), predict.
"""
from __future__ import annotations

import argparse
import json

from pipeline.config import PipelineConfig, load_config, parse_assignments
from pipeline.home import Home

RUN_HELP = "a run id, a unique part of one (start or end), or -1 for the latest, -2 the one before (default: latest)"


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="YAML file of config overrides (default: $MNIST_PIPELINE_HOME/config.yaml if present)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override one config key; repeat for more (e.g. --set epochs=1)")


def config_from_args(args, home: Home) -> PipelineConfig:
    return load_config(args.config, parse_assignments(args.set or []), home=home)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))
