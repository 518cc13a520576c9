"""How the schema SchemaGen inferred from a run's data differs from the curated contract."""
from __future__ import annotations

from pathlib import Path

from pipeline.storage import files as stored


def load_schema(path: Path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(stored.path(path).read_text(), schema_pb2.Schema())


def _fields(feature) -> dict:
    from google.protobuf.json_format import MessageToDict

    fields = MessageToDict(feature, preserving_proto_field_name=True)
    fields.pop("name", None)
    return fields


def differences(curated, inferred) -> list[str]:
    """One line per difference: `feature.field: curated X, inferred Y`."""
    curated_features = {f.name: _fields(f) for f in curated.feature}
    inferred_features = {f.name: _fields(f) for f in inferred.feature}
    lines = []
    for name in sorted(set(curated_features) | set(inferred_features)):
        if name not in inferred_features:
            lines.append(f"{name}: in the curated schema only (today's data does not have it)")
            continue
        if name not in curated_features:
            lines.append(f"{name}: inferred only (today's data has a feature the contract does not name)")
            continue
        ours, theirs = curated_features[name], inferred_features[name]
        for field in sorted(set(ours) | set(theirs)):
            if ours.get(field) != theirs.get(field):
                lines.append(f"{name}.{field}: curated {_show(ours.get(field))}, inferred {_show(theirs.get(field))}")
    return lines


def _show(value) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}" if value else "{}"
    return str(value)
