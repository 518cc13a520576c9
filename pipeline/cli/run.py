"""`mnist-pipeline run` and `resume`: the pipeline through Airflow, followed to a summary.

On the embedded default the DAG runs in this machine's Airflow in-process (`airflow dags test`,
one task at a time, nothing to start). While `mnist-pipeline airflow up` runs for the home, the
run is triggered on that scheduler through the REST API instead, and followed task by task. Both
paths show the same progress lines and summary, and exit 0 (success), 1 (a task failed), 2 (refused:
another run holds the home), 130 or 143 (stopped by SIGINT or SIGTERM).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

from components import nodes
from pipeline.cli.options import RUN_HELP, add_config_options, config_from_args
from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ConfigError
from pipeline.home import Home
from pipeline.metadata import approvals
from pipeline.metadata.lineage import model_origin
from pipeline.metadata.records import mark_interrupted
from pipeline.metadata.runs import resolve_run_id, summarize_run
from pipeline.metadata.spans import span_range
from pipeline.metadata.store import open_store
from pipeline.orchestration.progress import PROGRESS_MARKER
from pipeline.reports.text import evaluation_lines
from pipeline.services import environment

# The Trainer's epoch line ends with its time, "(31.2 s)"; Airflow's log format may add more after it.
_EPOCH_LINE = re.compile(r"(epoch \d+/\d+ .*?\(\d+(\.\d+)? s\))")
# The Tuner's lines (components/tuner.py): each trial with its settings, score and time, ending
# like an epoch's; the search's start and its winner, ending with "(tuning)".
_TRIAL_LINE = re.compile(r"(trial \d+/\d+ .*?\(\d+(\.\d+)? s\)|tuning: .*?\(tuning\))")


def _clock() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S")


def _minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def show_progress(line: str, failures: list[dict]) -> str | None:
    """Show one line of a task's output if it is a progress event or an epoch; returns the run id
    an event names."""

    marker = line.find(PROGRESS_MARKER)
    if marker >= 0:
        event = json.loads(line[marker + len(PROGRESS_MARKER):])
        node = event.get("node", "")
        if event["event"] == "started":
            print(f"{_clock()}  {node:<30} running", flush=True)
        elif event["event"] == "finished":
            seconds = f"{event['seconds']:7.1f} s" if "seconds" in event else ""
            print(f"{_clock()}  {node:<30} {event.get('state', 'done'):<9}{seconds}", flush=True)
            if "span" in event:  # prepare_data chose the span this run ingests

                waiting = event.get("waiting") or []
                print(f"{'':10}{'':30} this run ingests span {event['span']}"
                      + (f"; span(s) {span_range(waiting)} wait for the next runs, one each" if waiting else ""),
                      flush=True)
            if event.get("decision") or event.get("why"):  # the approval step's outcome
                print(f"{'':10}{'':30} {event.get('decision') or event['why']}", flush=True)
        elif event["event"] == "failed":
            failures.append(event)
            print(f"{_clock()}  {node:<30} FAILED   {event['seconds']:7.1f} s: {event['error']}", flush=True)
        return event.get("run_id")
    if match := _EPOCH_LINE.search(line) or _TRIAL_LINE.search(line):
        print(f"{'':10}{'':30} {match.group(1)}", flush=True)
    return None


def _last_error(log_path: Path) -> str:
    """The last line that names an exception in the log (the end of the last traceback)."""
    errors = [line.strip() for line in log_path.read_text(errors="replace").splitlines()
              if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line.strip())]
    return errors[-1] if errors else "(no error line found)"


def print_summary(home: Home, config: PipelineConfig, run_id: str, seconds: float, ok: bool) -> None:
    """The run's outcome, read from the MLMD store the run recorded into (the run's config names it)."""

    print()
    print(f"run {run_id} {'succeeded' if ok else 'FAILED'} in {seconds:.0f} s")
    try:
        store = open_store(home, config)
        summary = summarize_run(home, run_id, store)
    except (LookupError, FileNotFoundError):
        print("  components: none ran")
        return
    states = ", ".join(f"{c.node_id} {c.state}" for c in summary.components.values())
    print(f"  components: {states}")
    baseline = model_origin(store, summary.baseline_model_id) if summary.baseline_model_id else None
    for line in evaluation_lines(summary, baseline):
        print("  " + line)
    if decision := approvals.decision_of(store, run_id):
        print(f"  approval:   {approvals.describe(decision)}")
    if summary.pushed_path:
        cached = summary.components.get(nodes.PUSHER) and summary.components[nodes.PUSHER].state == "CACHED"
        note = " (unchanged re-run: already pushed, nothing new)" if cached else ""
        print(f"  pushed:     {summary.pushed_path}{note}")
    elif summary.pushed is False:
        print("  pushed:     nothing (the model was not blessed)")
    report_file = home.report_file(run_id)
    if report_file.exists():
        print(f"  report:     {report_file}")


def cmd_run(args) -> int:
    home = Home.from_env()
    return run_pipeline(home, config_from_args(args, home))


def cmd_resume(args) -> int:
    """Run again with the config of an earlier (failed) run: what succeeded comes from the cache."""

    home = Home.from_env()
    store = open_store(home)
    summary = summarize_run(home, resolve_run_id(store, args.run), store)
    if not summary.config:
        raise LookupError(f"run {summary.run_id} recorded no config to resume with")
    failed = [c.node_id for c in summary.components.values() if c.state in ("FAILED", "CANCELED")]
    where = (f", stopped at {', '.join(failed)}" if failed
             else f", stopped after {summary.stopped_after}" if summary.stopped_after else "")
    print(f"resuming run {summary.run_id} ({summary.state}{where}): completed components come back CACHED "
          "from the metadata store")
    return run_pipeline(home, load_config(overrides=summary.config, home=home))


def run_pipeline(home: Home, config: PipelineConfig) -> int:
    from pipeline.services import home_lock, lifecycle
    from pipeline.storage import preflight

    preflight.check(home.storage)  # before anything is written or recorded
    scheduler = lifecycle.running_api(home)
    if config.require_approval and not scheduler:
        raise ConfigError("require_approval needs a person to answer in Airflow's UI or REST API, which an "
                          "in-process run has not: start it with `mnist-pipeline airflow up` and run again, or "
                          "run with --set require_approval=false")
    # In-process, the home's lock is taken first: a second run is refused before it prints anything.
    # On the scheduler, Airflow queues runs (max_active_runs=1).
    with contextlib.nullcontext() if scheduler else home_lock.HomeLock(home) as lock:
        home.logs.mkdir(parents=True, exist_ok=True)
        log_path = home.run_log(datetime.datetime.now())
        overrides = " ".join(f"{k}={v}" for k, v in config.overrides().items()) or "defaults"
        print(f"home {home.root}; config: {overrides}")
        print(f"full log: {log_path}", flush=True)
        if scheduler:
            return _run_on_scheduler(home, config, *scheduler, log_path)
        return _run_in_process(home, config, log_path, lock)


# After SIGTERM, how long the run's processes get to end before they are killed.
STOP_GRACE = 5.0


class _Stop:
    """The signal handler of an in-process run: the first SIGINT or SIGTERM stops the run's
    processes (SIGTERM, then SIGKILL after STOP_GRACE s, on a thread, while the main thread keeps
    reading their output); a second one kills them at once. No KeyboardInterrupt is raised."""

    def __init__(self, process):
        self.process, self.at_ms = process, 0
        self.signal: int | None = None

    def __call__(self, signum, _frame) -> None:
        import threading

        from pipeline.services import processes

        if self.signal is None:
            self.signal, self.at_ms = signum, int(time.time() * 1000)
            # os.write, not print: a handler may run while print is writing (a reentrant call fails).
            os.write(sys.stdout.fileno(),
                     f"\n{signal.Signals(signum).name}: stopping the run (again to kill it at once)\n".encode())
            threading.Thread(target=processes.end_group, args=(self.process, STOP_GRACE), daemon=True).start()
        else:
            processes.end_group(self.process, 0, now=True)


def _run_in_process(home: Home, config: PipelineConfig, log_path: Path, lock) -> int:
    """`airflow dags test` in a child process that shares the home's lock (`pipeline.services.home_lock`)."""
    from pipeline.orchestration.airflow_dag import DAG_ID
    from pipeline.services import home_lock, processes

    env = {**environment.airflow_environment(home), home_lock.TOKEN_ENV: lock.token}
    started = time.monotonic()
    if not processes.database_ready(home, env):
        processes.migrate(home, env, say=lambda message: print(message + " (once)", flush=True))
    with open(log_path, "w") as log_file:
        print("Airflow is starting the run (about 5 s before the first task)", flush=True)
        process = processes.start_attached(home, ["dags", "test", DAG_ID, "-c", json.dumps(config.to_dict())],
                                           env, pass_fds=(lock.fd,))
        stop = _Stop(process)
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        run_id: str | None = None
        failures: list[dict] = []
        try:
            for line in process.stdout:  # type: ignore[union-attr]  # stdout=PIPE: never None
                log_file.write(line)
                run_id = show_progress(line, failures) or run_id
                if run_id:
                    lock.name_run(run_id)
            code = process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if stop.signal is not None:
        return _interrupted(home, config, run_id, stop, time.monotonic() - started, log_path)
    ok = code == 0 and not failures
    if run_id:
        print_summary(home, config, run_id, time.monotonic() - started, ok)
    if not ok:
        if not run_id:  # Airflow failed before any task started, e.g. the DAG did not load
            print("Airflow failed before the pipeline started:\n  " + _last_error(log_path), file=sys.stderr)
        print(f"\nthe run failed; see {log_path}", file=sys.stderr)
        return 1
    return 0


def _interrupted(home: Home, config: PipelineConfig, run_id: str | None, stop: _Stop, seconds: float,
                 log_path: Path) -> int:
    """Record the stop in MLMD (the run shows as INTERRUPTED, each step timed until the stop),
    say how to go on, and exit as a shell does for the signal: 130 (SIGINT) or 143 (SIGTERM)."""

    signum = stop.signal
    assert signum is not None, "called once a signal has come"
    name = signal.Signals(signum).name
    stopped = []
    if run_id:
        with contextlib.suppress(LookupError, FileNotFoundError, RuntimeError):
            stopped = mark_interrupted(home, run_id, name, stop.at_ms, config)
    print(f"\nrun {run_id or '(not started)'} interrupted by {name} after {seconds:.0f} s"
          + (f", during {', '.join(stopped)}" if stopped else "") + f"; the log is in {log_path}")
    if run_id:
        print("  resume it with `mnist-pipeline resume`: finished components come back CACHED from the metadata "
              "store, and it goes on from " + (stopped[0] if stopped else "where it stopped"))
    return 128 + signum


def _run_on_scheduler(home: Home, config: PipelineConfig, api, state: dict, log_path: Path) -> int:
    """Trigger the DAG on the scheduler that `airflow up` started, and follow it to its end."""
    from pipeline.orchestration.airflow_dag import DAG_ID
    from pipeline.services import airflow_api

    if (config.metadata_store or str(home.metadata_db)) != state["metadata_store"]:
        raise ConfigError(f"this run's metadata_store ({config.metadata_store or 'SQLite in the home'}) is not the "
                          f"one the running Airflow was started with ({state['metadata_store']}): the tasks and "
                          "this command would read different stores")
    failures: list[dict] = []

    def lost(task_id: str, attempt: int, airflow_state: str) -> None:
        failures.append({"node": task_id})
        retry = "; Airflow tries it again" if airflow_state in ("up_for_retry", "failed, retried") else ""
        print(f"{_clock()}  {task_id:<30} FAILED   attempt {attempt} ended without a result (its process was "
              f"killed?), Airflow state {airflow_state}{retry}", flush=True)

    def queued(ahead: list[str], waited: float) -> None:
        behind = f"behind {', '.join(ahead)}" if ahead else "for the scheduler to start it"
        print(f"{_clock()}  queued {behind} (one run at a time); waiting {_minutes(waited)} so far", flush=True)

    started = time.monotonic()
    with open(log_path, "w") as log_file:
        run_id = airflow_api.trigger(api, DAG_ID, config.to_dict())
        print(f"triggered {run_id} on the scheduler at {state['url']} ({state['executor']}); following it",
              flush=True)
        run_page = f"{state['url']}/dags/{DAG_ID}/runs/{run_id}"

        def waiting(task_id: str) -> None:  # the approval step (pipeline/orchestration/approval.py)
            print(f"{_clock()}  {task_id:<30} waiting for approval at {run_page}/tasks/{task_id}/required_actions "
                  f"(no answer within {config.approval_timeout_minutes:g} min is a rejection)", flush=True)

        try:
            final = airflow_api.follow(api, DAG_ID, run_id, lambda line: show_progress(line, failures), lost,
                                       log_file, show_queued=queued, show_waiting=waiting)
        except KeyboardInterrupt:
            print(f"\nstopped following; the run goes on in Airflow: {run_page}")
            return 130
    ok = final == "success"
    print_summary(home, config, run_id, time.monotonic() - started, ok)
    if not ok:
        print(f"\nthe run failed; see {log_path}, or the task logs at {run_page}", file=sys.stderr)
        return 1
    return 0


def add_commands(commands) -> None:
    run = commands.add_parser("run", help="run the pipeline through Airflow (prepares the data if missing)")
    add_config_options(run)
    run.set_defaults(func=cmd_run)

    resume = commands.add_parser(
        "resume", help="run again with a failed run's config; only the failed part and what follows runs")
    resume.add_argument("run", nargs="?", help=RUN_HELP)
    resume.set_defaults(func=cmd_resume)
