"""Reading anomalies: ExampleValidator's and the data gate's, one Anomalies proto per split.

Light on purpose (no TFX import), so the CLI can read them quickly.
"""

from components import features, nodes
from pipeline.storage import files as stored

ANOMALIES_FILE = "SchemaDiff.pb"  # the name ExampleValidator uses


def load_anomalies(uri: str, split: str):
    """The Anomalies proto of one split of an ExampleAnomalies artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.Anomalies.FromString(
        (stored.path(features.split_dir(uri, split)) / ANOMALIES_FILE).read_bytes())


def describe(split: str, anomalies) -> list[tuple[str, str, str, str]]:
    """(split, feature, kind, description) for every anomaly in an Anomalies proto."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    rows = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason or [None]:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type) if reason else "UNKNOWN"
            rows.append((split, feature, kind, (reason.description if reason else "") or info.description))
    for reason in anomalies.dataset_anomaly_info.reason:
        rows.append((split, "(dataset)", anomalies_pb2.AnomalyInfo.Type.Name(reason.type), reason.description))
    return rows


def found_in_run(components) -> tuple[bool, list[tuple[str, str, str, str, str]]]:
    """(was the data validated, [(found by, split, feature, kind, description)]) for one run's
    component executions (node id -> pipeline.metadata.runs.ComponentRun)."""
    rows, validated = [], False
    for node, key in ((nodes.EXAMPLE_VALIDATOR, "anomalies"), (nodes.DATA_GATE, "findings")):
        component = components.get(node)
        for artifact in (component.outputs.get(key, []) if component else []):
            for split in features.SPLITS:
                if (stored.path(features.split_dir(artifact.uri, split)) / ANOMALIES_FILE).exists():
                    validated = True
                    rows += [(node,) + row for row in describe(split, load_anomalies(artifact.uri, split))]
    return validated, rows
