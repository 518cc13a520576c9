"""Serving label changes in MLMD: every time a version gets or loses a label (`stable`, `canary`)
or is pruned, one execution of type `mnist.ServingLabelChange`, with the PushedModel artifacts it
concerns as inputs (the versions the label left, or that were pruned) and outputs (the version the
label now names). All of one served model's changes share one context, `mnist.ServedModel` named
after the model, so its history reads in one query. `pipeline/serving/registry.py` writes them.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.metadata.store import property_of

EXECUTION_TYPE = "mnist.ServingLabelChange"
CONTEXT_TYPE = "mnist.ServedModel"
PROPERTIES = ("action", "label", "version", "previous", "command", "user")


@dataclasses.dataclass(frozen=True)
class Change:
    execution_id: int
    at_ms: int
    action: str  # push, promote, rollback, prune
    label: str  # the label moved ("" for prune)
    version: int  # the version the label now names (the pruned one, for prune)
    previous: int  # the version it named before (0: none)
    command: str
    user: str

    def to_dict(self) -> dict[str, Any]:
        from pipeline.metadata.runs import iso_time

        return {**dataclasses.asdict(self), "at": iso_time(self.at_ms)}


def pushed_models(store, model_name: str) -> dict[int, Any]:
    """Serving version -> its PushedModel artifact, for the versions pushed to serving/<model_name>/."""
    found = {}
    for artifact in sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id):
        destination = property_of(artifact, "pushed_destination", "")
        version = str(property_of(artifact, "pushed_version", ""))
        if property_of(artifact, "pushed", 0) == 1 and version.isdigit() \
                and Path(destination).parent.name == model_name:
            found[int(version)] = artifact
    return found


def _type_ids(store) -> tuple[int, int]:
    from ml_metadata.proto import metadata_store_pb2 as pb

    execution_type = pb.ExecutionType(name=EXECUTION_TYPE)
    for name in PROPERTIES:
        execution_type.properties[name] = pb.INT if name in ("version", "previous") else pb.STRING
    context_type = pb.ContextType(name=CONTEXT_TYPE)
    return store.put_execution_type(execution_type), store.put_context_type(context_type)


def record(store, model_name: str, action: str, label: str, version: int, previous: int,
           inputs: list, outputs: list, command: str, user: str) -> int:
    """Record one change (see the module's docstring); returns its execution id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    execution_type_id, context_type_id = _type_ids(store)
    execution = pb.Execution(type_id=execution_type_id, last_known_state=pb.Execution.COMPLETE)
    for name, value in (("action", action), ("label", label), ("command", command), ("user", user)):
        execution.properties[name].string_value = value
    execution.properties["version"].int_value = version
    execution.properties["previous"].int_value = previous
    events = []
    for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
        for index, artifact in enumerate(artifacts):
            event = pb.Event(type=kind)
            event.path.steps.add().key = "pushed_model"
            event.path.steps.add().index = index
            events.append((artifact, event))
    context = store.get_context_by_type_and_name(CONTEXT_TYPE, model_name) or \
        pb.Context(type_id=context_type_id, name=model_name)
    execution_id, _, _ = store.put_execution(execution, events, [context], reuse_context_if_already_exist=True)
    return execution_id


def history(store, model_name: str) -> list[Change]:
    """Every change to the model's labels, oldest first."""
    context = store.get_context_by_type_and_name(CONTEXT_TYPE, model_name)
    if context is None:
        return []
    return [Change(e.id, e.create_time_since_epoch, *(property_of(e, name) for name in PROPERTIES))
            for e in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)]


def changes_of(store, artifact_id: int) -> list[Change]:
    """The changes that concern one PushedModel artifact (as input or output), oldest first."""
    from ml_metadata.errors import NotFoundError

    try:
        type_id = store.get_execution_type(EXECUTION_TYPE).id
    except NotFoundError:
        return []
    ids = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])})
    return [Change(e.id, e.create_time_since_epoch, *(property_of(e, name) for name in PROPERTIES))
            for e in store.get_executions_by_id(ids) if e.type_id == type_id]
