"""Lineage in MLMD: what an artifact came from, which models came from it, and where a pushed
model (a serving version) came from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.metadata.store import (
    PIPELINE_RUN_CONTEXT,
    node_ids_by_context,
    property_of,
)


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
              if property_of(a, "pushed", 0) == 1]
    if model.startswith("-") and model[1:].isdigit() and int(model) != 0:
        if len(pushed) < -int(model):
            raise LookupError(f"no pushed model {model!r}: {len(pushed)} model(s) were pushed")
        return pushed[int(model)]
    for artifact in pushed:
        destination = Path(property_of(artifact, "pushed_destination", "")).resolve()
        if (target and (destination == target or destination in target.parents)) or \
                (not target and property_of(artifact, "pushed_version") == model):
            return artifact
    raise LookupError(f"no pushed model {model!r}: give a version number from serving/<name>/ or its path")


def _producer(store, artifact_id: int):
    from ml_metadata.proto import metadata_store_pb2 as pb

    # The first execution that output it made it: later ones (a serving label change, which
    # outputs the PushedModel a label now names) only passed it on.
    makers = sorted(event.execution_id for event in store.get_events_by_artifact_ids([artifact_id])
                    if event.type in (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT))
    return store.get_executions_by_id(makers[:1])[0] if makers else None


def producing_run(store, artifact_id: int) -> str | None:
    """The pipeline run whose execution made the artifact (None if none did)."""
    execution = _producer(store, artifact_id)
    if execution is None:
        return None
    run_type = store.get_context_type(PIPELINE_RUN_CONTEXT).id
    return next((c.name for c in store.get_contexts_by_execution(execution.id) if c.type_id == run_type), None)


def input_artifacts(store, execution_id: int, key: str) -> list:
    """The artifacts an execution took as its input `key`."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
           if e.type == pb.Event.INPUT and e.path.steps and e.path.steps[0].key == key]
    return store.get_artifacts_by_id(ids) if ids else []


def pushed_blessed(store, pushed_id: int) -> bool:
    """Whether the Pusher that pushed this PushedModel took a blessing that said blessed."""
    pusher = _producer(store, pushed_id)
    return pusher is not None and any(property_of(b, "blessed", 0) == 1
                                      for b in input_artifacts(store, pusher.id, "model_blessing"))


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
        if property_of(artifact, "pushed", 0) == 1 and property_of(artifact, "pushed_version"):
            origin["pushed_version"] = property_of(artifact, "pushed_version")
    return origin


def upstream(store, artifact_id: int) -> list[dict[str, Any]]:
    """Walk from an artifact back through the executions that made it, to the raw examples:
    a list of steps (component, execution, run, inputs), nearest first."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    type_names = {t.id: t.name for t in store.get_artifact_types()}
    node_ids = node_ids_by_context(store)
    steps, seen, frontier = [], set(), [artifact_id]
    while frontier:
        execution = _producer(store, frontier.pop(0))
        if execution is None or execution.id in seen:
            continue
        seen.add(execution.id)
        inputs: dict[str, list[dict[str, Any]]] = {}
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

