"""Which spans of a data set runs have ingested, read from ImportExampleGen's artifacts.
"""
from __future__ import annotations

from typing import Any

from components import features, nodes
from pipeline.config import PipelineConfig
from pipeline.home import Home
from pipeline.metadata.store import (
    NODE_CONTEXT,
    has_context_type,
    open_store,
    property_of,
)


def ingested_spans(home: Home, config: PipelineConfig, data_set: str) -> set[int]:
    """The spans of a data set that this pipeline's ImportExampleGen has ingested (its Examples
    in MLMD), the same artifacts the spans resolver trains on (components/spans.py): another
    pipeline in the same store (one renamed, say) has ingested nothing for this one."""
    if not config.metadata_store and not home.metadata_db.exists():
        return set()
    store = open_store(home, config)
    node = store.get_context_by_type_and_name(NODE_CONTEXT, f"{config.pipeline_name}.{nodes.EXAMPLE_GEN}") \
        if has_context_type(store, NODE_CONTEXT) else None
    if node is None:  # this pipeline never ingested anything
        return set()
    from ml_metadata.proto import metadata_store_pb2 as pb

    return {property_of(a, features.SPAN_PROPERTY) for a in store.get_artifacts_by_context(node.id)
            if a.state == pb.Artifact.LIVE and property_of(a, features.DATA_SET_PROPERTY) == data_set
            and property_of(a, features.SPAN_PROPERTY) is not None}


def span_of(artifact) -> dict[str, Any]:
    """An Examples artifact as a span: its number, source and id, for people."""
    return {"span": property_of(artifact, features.SPAN_PROPERTY),
            "source": property_of(artifact, features.SOURCE_PROPERTY),
            "data_set": property_of(artifact, features.DATA_SET_PROPERTY), "examples_id": artifact.id}


def span_range(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    parts: list[list[int]] = []
    for number in sorted(set(numbers)):
        if parts and number == parts[-1][1] + 1:
            parts[-1][1] = number
        else:
            parts.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)

