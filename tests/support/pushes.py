"""Pushes recorded in a real MLMD store the way TFX's Pusher records them, with a version folder
on disk: for unit tests of serving labels that need no pipeline run (tests/e2e/ push for real).

A Pusher execution in the run's `pipeline_run` context and its node context, with inputs `model`
and `model_blessing` (a ModelBlessing with `blessed`) and output `pushed_model` (a PushedModel
with `pushed`, `pushed_destination` and `pushed_version`), as TFX 1.16 writes them.
"""
from __future__ import annotations

from pipeline.config import PipelineConfig
from pipeline.home import Home
from pipeline.metadata.records import record_run


def _type(store, kind: str, name: str) -> int:
    from ml_metadata.proto import metadata_store_pb2 as pb

    put = {"artifact": (store.put_artifact_type, pb.ArtifactType), "execution": (store.put_execution_type,
                                                                              pb.ExecutionType),
           "context": (store.put_context_type, pb.ContextType)}[kind]
    return put[0](put[1](name=name))


def push(home: Home, store, run_id: str, version: int, blessed: bool = True,
         config: PipelineConfig | None = None) -> int:
    """Record run `run_id` pushing `version` (a saved_model.pb under serving/<name>/<version>/);
    returns the PushedModel's id. An unblessed push is recorded as TFX would never do, to test refusals."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = config or PipelineConfig()
    record_run(home, run_id, config.to_dict())
    folder = home.serving_dir(config) / str(version)
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    model = pb.Artifact(type_id=_type(store, "artifact", "Model"), uri=str(home.root / "model" / run_id),
                        state=pb.Artifact.LIVE)
    blessing = pb.Artifact(type_id=_type(store, "artifact", "ModelBlessing"), state=pb.Artifact.LIVE)
    blessing.custom_properties["blessed"].int_value = int(blessed)
    pushed = pb.Artifact(type_id=_type(store, "artifact", "PushedModel"), state=pb.Artifact.LIVE)
    pushed.custom_properties["pushed"].int_value = 1
    pushed.custom_properties["pushed_destination"].string_value = str(folder)
    pushed.custom_properties["pushed_version"].string_value = str(version)
    model_id, blessing_id, pushed_id = store.put_artifacts([model, blessing, pushed])
    execution = pb.Execution(type_id=_type(store, "execution", "tfx.components.pusher.component.Pusher"),
                             last_known_state=pb.Execution.COMPLETE)
    [execution_id] = store.put_executions([execution])
    events = []
    for artifact_id, kind, key in ((model_id, pb.Event.INPUT, "model"), (blessing_id, pb.Event.INPUT, "model_blessing"),
                                   (pushed_id, pb.Event.OUTPUT, "pushed_model")):
        event = pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
        event.path.steps.add().key = key
        event.path.steps.add().index = 0
        events.append(event)
    store.put_events(events)
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    node = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.Pusher")
    if node is None:
        [node_id] = store.put_contexts([pb.Context(type_id=_type(store, "context", "node"),
                                                   name=f"{config.pipeline_name}.Pusher")])
    else:
        node_id = node.id
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=pushed_id, context_id=run.id)],
        [pb.Association(execution_id=execution_id, context_id=run.id),
         pb.Association(execution_id=execution_id, context_id=node_id)])
    return pushed_id
