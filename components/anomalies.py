"""Reading anomalies: ExampleValidator's and the data gate's, one Anomalies proto per split.

Light on purpose (no TFX import), so the CLI can read them quickly.
"""
import os

from components import features

ANOMALIES_FILE = "SchemaDiff.pb"  # the name ExampleValidator uses


def load_anomalies(uri: str, split: str):
    """The Anomalies proto of one split of an ExampleAnomalies artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    with open(os.path.join(features.split_dir(uri, split), ANOMALIES_FILE), "rb") as f:
        return anomalies_pb2.Anomalies.FromString(f.read())


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
