"""The metadata store: opening it, and reading what runs did from the records TFX left.

TFX writes executions, artifacts and their links; the pipeline adds, on each run's
`pipeline_run` context, the resolved config and the code's git commit, and the Evaluator adds
its accuracy and verdict to its artifacts (components/evaluator.py). Everything here is read
from MLMD alone: no TensorFlow import.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any, Optional

from components import features
from pipeline.config import MLMD_PASSWORD_ENV, Home, PipelineConfig, load_config, mysql_store

PIPELINE_RUN_CONTEXT = "pipeline_run"  # tfx.dsl.compiler.constants.PIPELINE_RUN_CONTEXT_TYPE_NAME
NODE_CONTEXT = "node"
EXAMPLE_GEN = "ImportExampleGen"  # the node's id (pipeline/pipeline.py); its node context is <pipeline>.<id>
COMPILED_PIPELINE = "compiled_pipeline"  # the run's IR, as its tasks execute it
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def connection_config(home: Home, config: PipelineConfig | None = None):
    """The one place that says where MLMD lives: SQLite in the home folder, or the MySQL (or
    MariaDB) server named by the config's `metadata_store` (by default from $MNIST_PIPELINE_MLMD)."""
    from ml_metadata.proto import metadata_store_pb2

    config = config or load_config(home=home)
    connection = metadata_store_pb2.ConnectionConfig()
    if config.metadata_store:
        settings = mysql_store(config.metadata_store)
        connection.mysql.host = settings["host"]
        connection.mysql.port = settings["port"]
        connection.mysql.database = settings["database"]
        connection.mysql.user = settings["user"]
        connection.mysql.password = os.environ.get(MLMD_PASSWORD_ENV, "")
    else:
        connection.sqlite.filename_uri = str(home.metadata_db)
        connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return connection


def open_store(home: Home, config: PipelineConfig | None = None):
    from ml_metadata.metadata_store import metadata_store

    connection = connection_config(home, config)
    if connection.HasField("sqlite") and not home.metadata_db.exists():
        raise FileNotFoundError(f"no metadata store at {home.metadata_db}: no pipeline has run in this home yet")
    try:
        return metadata_store.MetadataStore(connection)
    except Exception as err:  # MLMD raises its own error types per backend
        where = f"{connection.mysql.user}@{connection.mysql.host}:{connection.mysql.port}/{connection.mysql.database}"
        raise RuntimeError(f"cannot open the metadata store at mysql://{where}: {err}") from None


# --- What a run records about itself --------------------------------------------------------

def git_commit() -> str:
    """The commit of the code that runs, with '+dirty' for uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PACKAGE_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def record_run(home: Home, run_id: str, config: dict[str, Any], compiled: bytes | None = None) -> None:
    """Create the run's pipeline_run context up front, carrying the config, the commit and the
    compiled pipeline (serialized IR) that every task of the run executes.

    TFX's launcher finds the context by type and name and attaches every execution to it.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = metadata_store.MetadataStore(connection_config(home, load_config(overrides=config, home=home)))
    context_type = store.get_context_type(PIPELINE_RUN_CONTEXT) if _has_context_type(store) else None
    type_id = context_type.id if context_type else store.put_context_type(pb.ContextType(name=PIPELINE_RUN_CONTEXT))
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) or \
        pb.Context(type_id=type_id, name=run_id)
    context.custom_properties["config"].string_value = json.dumps(config, sort_keys=True)
    context.custom_properties["git_commit"].string_value = git_commit()
    context.custom_properties["home"].string_value = str(home.root)
    if compiled is not None:
        context.custom_properties[COMPILED_PIPELINE].string_value = _pack(compiled)
    # Seconds, not milliseconds: MLMD's MySQL schema stores int properties as 32-bit INT.
    context.custom_properties["started_at"].int_value = int(time.time())
    store.put_contexts([context])
    close_orphans(home, store, run_id)


def recorded_config(store, run_id: str) -> dict[str, Any] | None:
    """The config a run recorded when it started (`record_run`), or None if it recorded none."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if _has_context_type(store) else None
    if context is None or "config" not in context.custom_properties:
        return None
    return json.loads(context.custom_properties["config"].string_value)


def recorded_pipeline(store, run_id: str) -> bytes | None:
    """The compiled pipeline a run recorded when it started (`record_run`), or None."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if _has_context_type(store) else None
    if context is None or COMPILED_PIPELINE not in context.custom_properties:
        return None
    return zlib.decompress(base64.b64decode(context.custom_properties[COMPILED_PIPELINE].string_value))


def _pack(compiled: bytes) -> str:
    # Compressed: MLMD's MySQL schema stores string properties as TEXT (64 KB).
    packed = base64.b64encode(zlib.compress(compiled, 9)).decode()
    if len(packed) > 65_000:
        raise ValueError(f"the compiled pipeline takes {len(packed)} bytes packed, more than MLMD's MySQL "
                         f"schema stores in a string property (65,535)")
    return packed


def _has_context_type(store, name: str = PIPELINE_RUN_CONTEXT) -> bool:
    from ml_metadata import errors

    try:
        store.get_context_type(name)
        return True
    except errors.NotFoundError:
        return False


def close_orphans(home: Home, store, run_id: str) -> list[int]:
    """Mark FAILED the executions left RUNNING by this home's runs whose processes are gone
    (killed, machine lost); returns their ids.

    Whether a run is gone is not guessed: an in-process run holds the home's lock
    (`pipeline.home_lock`) for as long as any of its processes lives, so while another live
    process holds it nothing is touched. On the scheduler, Airflow runs one DAG run at a time
    (`max_active_runs=1`), so any other run's RUNNING execution is an orphan. Runs recorded by
    another home (a shared MySQL store) are left alone.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline import home_lock

    if home_lock.live_run_elsewhere(home):
        return []
    current = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    mine = {e.id for e in store.get_executions_by_context(current.id)} if current else set()
    orphans = []
    for execution in store.get_executions():
        if execution.last_known_state != pb.Execution.RUNNING or execution.id in mine:
            continue
        runs = [c for c in store.get_contexts_by_execution(execution.id) if c.name != run_id
                and _prop(c, "home", str(home.root)) == str(home.root) and "config" in c.custom_properties]
        if runs:
            execution.last_known_state = pb.Execution.FAILED
            execution.custom_properties["orphaned"].string_value = f"its process died; closed by run {run_id}"
            orphans.append(execution)
    if orphans:
        store.put_executions(orphans)
    return [e.id for e in orphans]


def mark_interrupted(home: Home, run_id: str, signal_name: str, since_ms: int, config=None) -> list[str]:
    """After a run was stopped by a signal: its executions still RUNNING, or failed by the stop
    itself (updated since `since_ms`), become CANCELED with an `interrupted` property, so that
    the run reads as interrupted and each step's time ends when it was stopped. Returns the nodes."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = open_store(home, config)
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if context is None:
        return []
    node_ids = _node_ids(store)
    stopped = [e for e in store.get_executions_by_context(context.id)
               if e.last_known_state in (pb.Execution.RUNNING, pb.Execution.NEW)
               or (e.last_known_state == pb.Execution.FAILED and e.last_update_time_since_epoch >= since_ms)]
    for execution in stopped:
        execution.last_known_state = pb.Execution.CANCELED
        execution.custom_properties["interrupted"].string_value = f"stopped by {signal_name}"
    if stopped:
        store.put_executions(stopped)
    return [node_ids.get(e.id, str(e.id)) for e in stopped]


# --- Spans ------------------------------------------------------------------------------------

def ingested_spans(home: Home, config: PipelineConfig, data_set: str) -> set[int]:
    """The spans of a data set that this pipeline's ImportExampleGen has ingested (its Examples
    in MLMD), the same artifacts the spans resolver trains on (components/spans.py): another
    pipeline in the same store (one renamed, say) has ingested nothing for this one."""
    if not config.metadata_store and not home.metadata_db.exists():
        return set()
    store = open_store(home, config)
    node = store.get_context_by_type_and_name(NODE_CONTEXT, f"{config.pipeline_name}.{EXAMPLE_GEN}") \
        if _has_context_type(store, NODE_CONTEXT) else None
    if node is None:  # this pipeline never ingested anything
        return set()
    from ml_metadata.proto import metadata_store_pb2 as pb

    return {_prop(a, features.SPAN_PROPERTY) for a in store.get_artifacts_by_context(node.id)
            if a.state == pb.Artifact.LIVE and _prop(a, features.DATA_SET_PROPERTY) == data_set
            and _prop(a, features.SPAN_PROPERTY) is not None}


def span_of(artifact) -> dict[str, Any]:
    """An Examples artifact as a span: its number, source and id, for people."""
    return {"span": _prop(artifact, features.SPAN_PROPERTY), "source": _prop(artifact, features.SOURCE_PROPERTY),
            "data_set": _prop(artifact, features.DATA_SET_PROPERTY), "examples_id": artifact.id}


def span_range(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    parts: list[list[int]] = []
    for number in sorted(set(numbers)):
        if parts and number == parts[-1][1] + 1:
            parts[-1][1] = number
        else:
            parts.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


# --- Reading runs ---------------------------------------------------------------------------

@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, CANCELED (interrupted), ...
    execution_id: int
    started_ms: int
    finished_ms: int
    inputs: dict[str, list]  # input key -> MLMD artifacts
    outputs: dict[str, list]  # output key -> MLMD artifacts
    # Closed by a later run because its process died (`close_orphans`): when it stopped is not
    # known, so its time is not counted (finished_ms = started_ms) and is shown as unknown.
    orphaned: bool = False

    @property
    def seconds(self) -> float:
        return max(self.finished_ms - self.started_ms, 0) / 1000


@dataclasses.dataclass
class RunSummary:
    run_id: str
    components: dict[str, ComponentRun]
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    git_commit: Optional[str] = None
    started_ms: int = 0
    finished_ms: int = 0
    accuracy: Optional[float] = None
    accuracy_per_digit: dict[str, float] = dataclasses.field(default_factory=dict)
    blessed: Optional[bool] = None
    baseline_model_id: Optional[int] = None
    gate_failures: list[str] = dataclasses.field(default_factory=list)  # why it was not blessed
    # Per-digit drops the gate let pass because chance explains them (components/evaluator.py).
    drops_within_chance: list[str] = dataclasses.field(default_factory=list)
    pushed: Optional[bool] = None
    pushed_path: Optional[str] = None
    pushed_version: Optional[str] = None
    ingested: Optional[dict] = None  # the span ImportExampleGen ingested (`span_of`)
    trained_on: list[dict] = dataclasses.field(default_factory=list)  # the spans the Trainer read, oldest first
    # The recipe the Trainer trained with: the config's, with the Tuner's winner applied
    # (the Model's `trained_with`, components/trainer.py).
    trained_with: dict[str, Any] = dataclasses.field(default_factory=dict)
    # What the Tuner did (components/tuner.py): every trial (trial, settings, score, seconds,
    # state), the winner's number (None when it did not search), the settings it handed on.
    tuning: Optional[dict[str, Any]] = None

    @property
    def trained_spans(self) -> str:
        return span_range([s["span"] for s in self.trained_on if s["span"] is not None])

    @property
    def state(self) -> str:
        states = {c.state for c in self.components.values()}
        if "CANCELED" in states:  # stopped by Ctrl-C or SIGTERM (`mark_interrupted`)
            return "INTERRUPTED"
        if "FAILED" in states:
            return "FAILED"
        if "RUNNING" in states or "NEW" in states:
            return "RUNNING"
        return "COMPLETE" if states else "NOT STARTED"

    @property
    def seconds(self) -> float:
        return max(self.finished_ms - self.started_ms, 0) / 1000

    @property
    def time_known(self) -> bool:
        """False when a step's process died unseen (`ComponentRun.orphaned`): the run's end is unknown."""
        return not any(c.orphaned for c in self.components.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "state": self.state, "started": iso_time(self.started_ms),
            "seconds": round(self.seconds, 1) if self.time_known else None, "git_commit": self.git_commit, "config": self.config,
            "components": {c.node_id: {"state": c.state, "seconds": None if c.orphaned else round(c.seconds, 1),
                                       "orphaned": c.orphaned, "execution_id": c.execution_id}
                           for c in self.components.values()},
            "accuracy": self.accuracy, "accuracy_per_digit": self.accuracy_per_digit,
            "blessed": self.blessed, "baseline_model_id": self.baseline_model_id,
            "gate_failures": self.gate_failures, "drops_within_chance": self.drops_within_chance,
            "pushed": self.pushed,
            "pushed_version": self.pushed_version, "pushed_path": self.pushed_path,
            "ingested_span": self.ingested, "trained_on_spans": self.trained_on,
            "trained_with": self.trained_with, "tuning": self.tuning,
        }

    def trial_table(self) -> tuple[list[str], list[list[str]]]:
        """The Tuner's trials as a table (header, rows), the winner marked with '*'."""
        trials = (self.tuning or {}).get("trials") or []
        knobs = list(dict.fromkeys(k for t in trials for k in t["settings"]))
        header = ["trial", *knobs, "holdout accuracy", "seconds"]
        best = (self.tuning or {}).get("best_trial")
        rows = [[f"{t['trial']}{' *' if t['trial'] == best else ''}", *(str(t["settings"].get(k)) for k in knobs),
                 f"{t['score']:.4f}" + ("" if t["state"] == "COMPLETED" else " (diverged)"), f"{t['seconds']:.1f}"]
                for t in trials]
        return header, rows


def iso_time(ms: int) -> Optional[str]:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="seconds") \
        if ms else None


def _prop(item, name: str, default=None):
    if name in item.custom_properties:
        value = item.custom_properties[name]
        return getattr(value, value.WhichOneof("value"))
    if name in item.properties:
        value = item.properties[name]
        return getattr(value, value.WhichOneof("value"))
    return default


def _node_ids(store) -> dict[int, str]:
    """execution id -> node id, from the node contexts (named '<pipeline>.<node id>')."""
    node_of_execution = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        for execution in store.get_executions_by_context(context.id):
            node_of_execution[execution.id] = context.name.split(".", 1)[-1]
    return node_of_execution


def component_runs(store, run_id: str, node_ids: dict[int, str] | None = None) -> dict[str, ComponentRun]:
    """Each node's execution in the pipeline run `run_id`, keyed by node id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    run_context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run_context is None:
        raise LookupError(f"the metadata store knows no pipeline run {run_id!r}")
    node_ids = node_ids if node_ids is not None else _node_ids(store)
    executions = sorted(store.get_executions_by_context(run_context.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({ev.artifact_id for ev in events}))}
    runs = {}
    for execution in executions:
        sides: dict[int, dict[str, list]] = {pb.Event.INPUT: {}, pb.Event.OUTPUT: {}}
        for event in events:
            if event.execution_id == execution.id and event.type in sides:
                key = event.path.steps[0].key if event.path.steps else ""
                sides[event.type].setdefault(key, []).append(artifacts[event.artifact_id])
        node_id = node_ids.get(execution.id, str(execution.type_id))
        orphaned = "orphaned" in execution.custom_properties
        finished = execution.create_time_since_epoch if orphaned else execution.last_update_time_since_epoch
        runs[node_id] = ComponentRun(node_id, pb.Execution.State.Name(execution.last_known_state), execution.id,
                                     execution.create_time_since_epoch, finished,
                                     sides[pb.Event.INPUT], sides[pb.Event.OUTPUT], orphaned)
    return runs


def run_ids(store) -> list[str]:
    """Every pipeline run, oldest first."""
    return [c.name for c in sorted(store.get_contexts_by_type(PIPELINE_RUN_CONTEXT), key=lambda c: c.id)]


def resolve_run_id(store, run: str | None) -> str:
    """`run` itself, a unique prefix or suffix of a run id, a negative index (-1 = latest), or the latest."""
    ids = run_ids(store)
    if not ids:
        raise LookupError("the metadata store holds no pipeline run yet")
    if not run:
        return ids[-1]
    if run in ids:
        return run
    if run.lstrip("-").isdigit() and run.startswith("-") and len(ids) >= -int(run):
        return ids[int(run)]
    matches = [i for i in ids if i.startswith(run) or i.endswith(run)]
    if len(matches) == 1:
        return matches[0]
    raise LookupError(f"no pipeline run {run!r}" + (f" (ambiguous: {len(matches)} runs match)" if matches else "")
                      + "; `mnist-pipeline runs` lists them")


def latest_run_id(store) -> str:
    return resolve_run_id(store, None)


def summarize_run(home: Home, run_id: str, store=None, node_ids=None) -> RunSummary:
    store = store or open_store(home)
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if context is None:
        raise LookupError(f"the metadata store knows no pipeline run {run_id!r}")
    runs = component_runs(store, run_id, node_ids)
    summary = RunSummary(run_id, runs, config=json.loads(_prop(context, "config", "{}")),
                         git_commit=_prop(context, "git_commit"))
    summary.started_ms = 1000 * _prop(context, "started_at", 0) or min((c.started_ms for c in runs.values()), default=0)
    summary.finished_ms = max((c.finished_ms for c in runs.values()), default=summary.started_ms)
    example_gen, trainer = runs.get(EXAMPLE_GEN), runs.get("Trainer")
    if example_gen and example_gen.outputs.get("examples"):
        summary.ingested = span_of(example_gen.outputs["examples"][0])
    if trainer:
        summary.trained_on = sorted((span_of(a) for a in trainer.inputs.get("examples", [])),
                                    key=lambda s: (s["span"] is None, s["span"] or 0))
    evaluator = runs.get("Evaluator")
    if evaluator:
        for artifact in evaluator.outputs.get("evaluation", []):
            summary.accuracy = _prop(artifact, features.ACCURACY)
            summary.accuracy_per_digit = json.loads(_prop(artifact, "accuracy_per_digit", "{}"))
        for artifact in evaluator.outputs.get("blessing", []):
            blessed = _prop(artifact, "blessed")
            summary.blessed = None if blessed is None else bool(blessed)
            summary.baseline_model_id = _prop(artifact, "baseline_model_id")
            summary.gate_failures = json.loads(_prop(artifact, "validation_failures", "[]"))
            summary.drops_within_chance = json.loads(_prop(artifact, "digit_drops_within_chance", "[]"))
    trainer = runs.get("Trainer")
    for artifact in trainer.outputs.get("model", []) if trainer else []:
        summary.trained_with = json.loads(_prop(artifact, "trained_with", "{}"))
    tuner = runs.get("Tuner")
    if tuner and tuner.outputs.get("tuner_results"):
        [results] = tuner.outputs["tuner_results"]
        settings = [json.loads(_prop(a, "settings", "{}")) for a in tuner.outputs.get("best_hyperparameters", [])]
        summary.tuning = {"trials": json.loads(_prop(results, "trials", "[]")),
                          "best_trial": _prop(results, "best_trial"), "settings": settings[0] if settings else {}}
    pusher = runs.get("Pusher")
    if pusher:
        for artifact in pusher.outputs.get("pushed_model", []):
            summary.pushed = bool(_prop(artifact, "pushed", 0))
            if summary.pushed:
                summary.pushed_path = _prop(artifact, "pushed_destination")
                summary.pushed_version = _prop(artifact, "pushed_version")
    return summary


def list_runs(home: Home) -> list[RunSummary]:
    store = open_store(home)
    node_ids = _node_ids(store)
    return [summarize_run(home, run_id, store, node_ids) for run_id in run_ids(store)]


# --- Lineage ----------------------------------------------------------------------------------

def describe_artifact(store, artifact, type_names: dict[int, str] | None = None) -> dict[str, Any]:
    type_names = type_names or {t.id: t.name for t in store.get_artifact_types()}
    properties = {}
    for source in (artifact.properties, artifact.custom_properties):
        for name, value in source.items():
            properties[name] = getattr(value, value.WhichOneof("value"))
    return {"id": artifact.id, "type": type_names.get(artifact.type_id, str(artifact.type_id)),
            "uri": artifact.uri, "properties": properties}


def find_pushed_model(store, model: str):
    """The PushedModel artifact for a serving version number, a serving path (or a file inside
    one, such as its feature extractor), or a position among the pushed models: -1 the latest,
    -2 the one before, ..."""
    target = Path(model).expanduser().resolve() if "/" in model else None
    pushed = [a for a in sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id)
              if _prop(a, "pushed", 0) == 1]
    if model.startswith("-") and model[1:].isdigit() and int(model) != 0:
        if len(pushed) < -int(model):
            raise LookupError(f"no pushed model {model!r}: {len(pushed)} model(s) were pushed")
        return pushed[int(model)]
    for artifact in pushed:
        destination = Path(_prop(artifact, "pushed_destination", "")).resolve()
        if (target and (destination == target or destination in target.parents)) or \
                (not target and _prop(artifact, "pushed_version") == model):
            return artifact
    raise LookupError(f"no pushed model {model!r}: give a version number from serving/<name>/ or its path")


def _producer(store, artifact_id: int):
    from ml_metadata.proto import metadata_store_pb2 as pb

    for event in store.get_events_by_artifact_ids([artifact_id]):
        if event.type in (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT):
            [execution] = store.get_executions_by_id([event.execution_id])
            return execution
    return None


def model_origin(store, model_id: int) -> dict[str, Any]:
    """Where a Model artifact came from, to name it as a person would: the run that trained it
    and the serving version it was pushed as (None if it never was)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    origin = {"model_id": model_id, "run_id": None, "pushed_version": None}
    trainer = _producer(store, model_id)
    if trainer is not None:
        run_type = store.get_context_type(PIPELINE_RUN_CONTEXT).id
        runs = [c.name for c in store.get_contexts_by_execution(trainer.id) if c.type_id == run_type]
        origin["run_id"] = runs[0] if runs else None
    users = [e.execution_id for e in store.get_events_by_artifact_ids([model_id]) if e.type == pb.Event.INPUT]
    outputs = [e.artifact_id for e in store.get_events_by_execution_ids(users) if e.type == pb.Event.OUTPUT]
    for artifact in store.get_artifacts_by_id(outputs):
        if _prop(artifact, "pushed", 0) == 1 and _prop(artifact, "pushed_version"):
            origin["pushed_version"] = _prop(artifact, "pushed_version")
    return origin


def verdict(summary: RunSummary, baseline: dict[str, Any] | None) -> str:
    """The model gate's decision in one sentence, naming the baseline as a person knows it
    (`model_origin`): the one wording of `show`, the report and the Airflow UI."""
    if baseline:
        version = f"version {baseline['pushed_version']}" if baseline["pushed_version"] else "a model never pushed"
        against = f"the baseline, {version} from run {baseline['run_id']} (model {baseline['model_id']})"
    else:
        against = "no baseline (no earlier blessed model)"
    minimum = summary.config.get("min_accuracy", "?")
    if summary.blessed:
        rule = (f"accuracy >= min_accuracy {minimum}, not below {against} overall, and no digit worse beyond "
                f"chance" if baseline else f"accuracy >= min_accuracy {minimum}; {against}")
        return f"blessed: {rule}"
    return f"NOT blessed, against {against}:"


def evaluation_lines(summary: RunSummary, baseline: dict[str, Any] | None) -> list[str]:
    """The evaluation in plain text, as `run` ends and `show` prints it: accuracy overall and per
    digit, the verdict, the thresholds that failed and the digit drops that chance allowed."""
    if summary.accuracy is None:
        return []
    lines = [f"accuracy   {summary.accuracy:.4f} on the eval split"]
    if summary.accuracy_per_digit:
        lines.append("per digit  " + "  ".join(f"{d}: {a:.4f}" for d, a in summary.accuracy_per_digit.items()))
    if summary.blessed is not None:
        lines.append(verdict(summary, baseline))
        lines += [f"  failed: {failure}" for failure in summary.gate_failures]
        lines += [f"  allowed: {drop}" for drop in summary.drops_within_chance]
    return lines


def upstream(store, artifact_id: int) -> list[dict[str, Any]]:
    """Walk from an artifact back through the executions that made it, to the raw examples:
    a list of steps (component, execution, run, inputs), nearest first."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    type_names = {t.id: t.name for t in store.get_artifact_types()}
    node_ids = _node_ids(store)
    steps, seen, frontier = [], set(), [artifact_id]
    while frontier:
        execution = _producer(store, frontier.pop(0))
        if execution is None or execution.id in seen:
            continue
        seen.add(execution.id)
        inputs = {}
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == pb.Event.INPUT:
                key = event.path.steps[0].key if event.path.steps else ""
                [artifact] = store.get_artifacts_by_id([event.artifact_id])
                inputs.setdefault(key, []).append(describe_artifact(store, artifact, type_names))
                frontier.append(event.artifact_id)
        runs = [c.name for c in store.get_contexts_by_execution(execution.id)
                if c.type_id == store.get_context_type(PIPELINE_RUN_CONTEXT).id]
        steps.append({"component": node_ids.get(execution.id, "?"), "execution_id": execution.id,
                      "state": pb.Execution.State.Name(execution.last_known_state),
                      "run_id": runs[0] if runs else None, "inputs": inputs})
    return steps


def downstream_models(store, artifact_id: int) -> list[dict[str, Any]]:
    """Every Model artifact made, directly or not, from the artifact `artifact_id`."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    type_names = {t.id: t.name for t in store.get_artifact_types()}
    models, seen, frontier = {}, set(), [artifact_id]
    while frontier:
        current = frontier.pop(0)
        for event in store.get_events_by_artifact_ids([current]):
            if event.type != pb.Event.INPUT or event.execution_id in seen:
                continue
            seen.add(event.execution_id)
            for out in store.get_events_by_execution_ids([event.execution_id]):
                if out.type == pb.Event.OUTPUT:
                    [artifact] = store.get_artifacts_by_id([out.artifact_id])
                    if type_names.get(artifact.type_id) == "Model":
                        models[artifact.id] = describe_artifact(store, artifact, type_names)
                    frontier.append(out.artifact_id)
    return [models[k] for k in sorted(models)]
