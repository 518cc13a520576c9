"""The spans a pipeline has ingested (pipeline/metadata/spans.py)."""
from ml_metadata.proto import metadata_store_pb2 as pb

from components.nodes import EXAMPLE_GEN
from pipeline.metadata.spans import ingested_spans
from pipeline.metadata.store import NODE_CONTEXT


def test_ingested_spans_are_this_pipeline_s_own(home, store):
    """Examples of another pipeline in the same store (the pipeline before a rename) do not count:
    the renamed pipeline starts from the oldest span, as its spans resolver sees it."""
    from components import features
    from pipeline.config import PipelineConfig

    context_type = store.put_context_type(pb.ContextType(name=NODE_CONTEXT))
    examples_type = store.put_artifact_type(pb.ArtifactType(name="Examples"))
    for pipeline_name, span in (("mnist", 1), ("mnist", 2), ("digits", 1)):
        name = f"{pipeline_name}.{EXAMPLE_GEN}"
        context = store.get_context_by_type_and_name(NODE_CONTEXT, name)
        context_id = context.id if context else store.put_contexts([pb.Context(type_id=context_type, name=name)])[0]
        artifact = pb.Artifact(type_id=examples_type, state=pb.Artifact.LIVE)
        artifact.custom_properties[features.SPAN_PROPERTY].int_value = span
        artifact.custom_properties[features.DATA_SET_PROPERTY].string_value = "set-a"
        [artifact_id] = store.put_artifacts([artifact])
        store.put_attributions_and_associations([pb.Attribution(context_id=context_id, artifact_id=artifact_id)], [])
    assert ingested_spans(home, PipelineConfig(), "set-a") == {1, 2}
    assert ingested_spans(home, PipelineConfig(pipeline_name="digits"), "set-a") == {1}
    assert ingested_spans(home, PipelineConfig(pipeline_name="letters"), "set-a") == set()
    assert ingested_spans(home, PipelineConfig(), "set-b") == set()

