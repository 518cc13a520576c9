"""What a run did, read from MLMD: one `RunSummary` per pipeline run, with its components'
executions, the spans it trained on, its accuracy, verdict and pushed model. `show`, `runs`,
the report and the UI's pages all read runs through here.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from typing import Any

from components import features, nodes
from pipeline.home import Home
from pipeline.metadata.spans import span_of, span_range
from pipeline.metadata.store import (
    PIPELINE_RUN_CONTEXT,
    node_ids_by_context,
    open_store,
    property_of,
)


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
    git_commit: str | None = None
    started_ms: int = 0
    finished_ms: int = 0
    accuracy: float | None = None
    accuracy_per_digit: dict[str, float] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    baseline_model_id: int | None = None
    gate_failures: list[str] = dataclasses.field(default_factory=list)  # why it was not blessed
    # Per-digit drops the gate let pass because chance explains them (components/evaluator.py).
    drops_within_chance: list[str] = dataclasses.field(default_factory=list)
    pushed: bool | None = None
    pushed_path: str | None = None
    pushed_version: str | None = None
    ingested: dict | None = None  # the span ImportExampleGen ingested (`span_of`)
    trained_on: list[dict] = dataclasses.field(default_factory=list)  # the spans the Trainer read, oldest first
    # The recipe the Trainer trained with: the config's, with the Tuner's winner applied
    # (the Model's `trained_with`, components/trainer.py).
    trained_with: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The temperature fitted on held-out data and built into the model, with the mean confidence
    # before and after (the Model's `confidence_calibration`, components/calibration.py).
    confidence_calibration: dict[str, Any] | None = None
    # What the Tuner did (components/tuner.py): every trial (trial, settings, score, seconds,
    # state), the winner's number (None when it did not search), the settings it handed on.
    tuning: dict[str, Any] | None = None

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
        if states and nodes.PUSHER not in self.components:
            # Every step it recorded ended well, but its last step never ran: its process died
            # between steps, or its orchestrator did while a step's process finished alone.
            return "INCOMPLETE"
        return "COMPLETE" if states else "NOT STARTED"

    @property
    def stopped_after(self) -> str | None:
        """The last step an INCOMPLETE run recorded, in the pipeline's order; None otherwise."""
        if self.state != "INCOMPLETE":
            return None
        return next((node for node in reversed(nodes.ALL) if node in self.components), None)

    @property
    def seconds(self) -> float:
        return max(self.finished_ms - self.started_ms, 0) / 1000

    @property
    def time_known(self) -> bool:
        """False when a step's process died unseen (`ComponentRun.orphaned`): the run's end is unknown."""
        return not any(c.orphaned for c in self.components.values())

    def to_json(self, describe: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        """The run as JSON; with `describe` (an artifact to a dict), each component's inputs and
        outputs too (`show --json`)."""
        def component(c: ComponentRun) -> dict[str, Any]:
            entry: dict[str, Any] = {"state": c.state, "seconds": None if c.orphaned else round(c.seconds, 1),
                                     "orphaned": c.orphaned, "execution_id": c.execution_id}
            if describe:
                entry["inputs"] = {k: [describe(a) for a in v] for k, v in c.inputs.items()}
                entry["outputs"] = {k: [describe(a) for a in v] for k, v in c.outputs.items()}
            return entry

        return {
            "run_id": self.run_id, "state": self.state, "stopped_after": self.stopped_after,
            "started": iso_time(self.started_ms),
            "seconds": round(self.seconds, 1) if self.time_known else None, "git_commit": self.git_commit,
            "config": self.config,
            "components": {c.node_id: component(c) for c in self.components.values()},
            "accuracy": self.accuracy, "accuracy_per_digit": self.accuracy_per_digit,
            "blessed": self.blessed, "baseline_model_id": self.baseline_model_id,
            "gate_failures": self.gate_failures, "drops_within_chance": self.drops_within_chance,
            "pushed": self.pushed,
            "pushed_version": self.pushed_version, "pushed_path": self.pushed_path,
            "ingested_span": self.ingested, "trained_on_spans": self.trained_on,
            "trained_with": self.trained_with, "confidence_calibration": self.confidence_calibration,
            "tuning": self.tuning,
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


def iso_time(ms: int) -> str | None:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="seconds") \
        if ms else None


def component_runs(store, run_id: str, node_ids: dict[int, str] | None = None) -> dict[str, ComponentRun]:
    """Each node's execution in the pipeline run `run_id`, keyed by node id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    run_context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run_context is None:
        raise LookupError(f"the metadata store knows no pipeline run {run_id!r}")
    node_ids = node_ids if node_ids is not None else node_ids_by_context(store)
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
    summary = RunSummary(run_id, runs, config=json.loads(property_of(context, "config", "{}")),
                         git_commit=property_of(context, "git_commit"))
    summary.started_ms = (1000 * property_of(context, "started_at", 0)
                          or min((c.started_ms for c in runs.values()), default=0))
    summary.finished_ms = max((c.finished_ms for c in runs.values()), default=summary.started_ms)
    example_gen, trainer = runs.get(nodes.EXAMPLE_GEN), runs.get(nodes.TRAINER)
    if example_gen and example_gen.outputs.get("examples"):
        summary.ingested = span_of(example_gen.outputs["examples"][0])
    if trainer:
        summary.trained_on = sorted((span_of(a) for a in trainer.inputs.get("examples", [])),
                                    key=lambda s: (s["span"] is None, s["span"] or 0))
    evaluator = runs.get(nodes.EVALUATOR)
    if evaluator:
        for artifact in evaluator.outputs.get("evaluation", []):
            summary.accuracy = property_of(artifact, features.ACCURACY)
            summary.accuracy_per_digit = json.loads(property_of(artifact, "accuracy_per_digit", "{}"))
        for artifact in evaluator.outputs.get("blessing", []):
            blessed = property_of(artifact, "blessed")
            summary.blessed = None if blessed is None else bool(blessed)
            summary.baseline_model_id = property_of(artifact, "baseline_model_id")
            summary.gate_failures = json.loads(property_of(artifact, "validation_failures", "[]"))
            summary.drops_within_chance = json.loads(property_of(artifact, "digit_drops_within_chance", "[]"))
    trainer = runs.get(nodes.TRAINER)
    for artifact in trainer.outputs.get("model", []) if trainer else []:
        summary.trained_with = json.loads(property_of(artifact, "trained_with", "{}"))
        summary.confidence_calibration = json.loads(property_of(artifact, "confidence_calibration", "null"))
    tuner = runs.get(nodes.TUNER)
    if tuner and tuner.outputs.get("tuner_results"):
        [results] = tuner.outputs["tuner_results"]
        settings = [json.loads(property_of(a, "settings", "{}")) for a in tuner.outputs.get("best_hyperparameters", [])]
        summary.tuning = {"trials": json.loads(property_of(results, "trials", "[]")),
                          "best_trial": property_of(results, "best_trial"), "settings": settings[0] if settings else {}}
    pusher = runs.get(nodes.PUSHER)
    if pusher:
        for artifact in pusher.outputs.get("pushed_model", []):
            summary.pushed = bool(property_of(artifact, "pushed", 0))
            if summary.pushed:
                summary.pushed_path = property_of(artifact, "pushed_destination")
                summary.pushed_version = property_of(artifact, "pushed_version")
    return summary


def list_runs(home: Home) -> list[RunSummary]:
    store = open_store(home)
    node_ids = node_ids_by_context(store)
    return [summarize_run(home, run_id, store, node_ids) for run_id in run_ids(store)]

