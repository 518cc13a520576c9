"""The anomalies a run's validators recorded (ExampleValidator's and the data gate's), read from
their stored artifacts for the report, `show` and the Airflow pages."""
from __future__ import annotations

from components import features, nodes
from components.anomalies import ANOMALIES_FILE, describe
from pipeline.storage import files as stored


def _load(uri: str, split: str):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.Anomalies.FromString(_file(uri, split).read_bytes())


def _file(uri: str, split: str):
    return stored.path(features.split_dir(uri, split)) / ANOMALIES_FILE


def found_in_run(components) -> tuple[bool, list[tuple[str, str, str, str, str]]]:
    """(was the data validated, [(found by, split, feature, kind, description)]) for one run's
    component executions (node id -> pipeline.metadata.runs.ComponentRun)."""
    rows, validated = [], False
    for node, key in ((nodes.EXAMPLE_VALIDATOR, "anomalies"), (nodes.DATA_GATE, "findings")):
        component = components.get(node)
        for artifact in (component.outputs.get(key, []) if component else []):
            for split in features.SPLITS:
                if _file(artifact.uri, split).exists():
                    validated = True
                    rows += [(node,) + row for row in describe(split, _load(artifact.uri, split))]
    return validated, rows
