import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from components import data_gate


def _stats(min_bytes, max_bytes):
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    feature = stats.datasets.add().features.add()
    feature.path.step.append("image_raw")
    feature.bytes_stats.min_num_bytes = min_bytes
    feature.bytes_stats.max_num_bytes = max_bytes
    feature.bytes_stats.common_stats.num_non_missing = 10
    return stats


def test_784_bytes_pass_and_other_sizes_are_an_anomaly():
    ok = anomalies_pb2.Anomalies()
    data_gate.check_image_bytes(_stats(784, 784), ok)
    assert not ok.anomaly_info
    bad = anomalies_pb2.Anomalies()
    data_gate.check_image_bytes(_stats(784, 1024), bad)
    [(split, feature, kind, description)] = data_gate.describe("train", bad)
    assert (split, feature, kind) == ("train", "image_raw", "CUSTOM_VALIDATION")
    assert "exactly 784 bytes" in description and "1024" in description


def test_report_lists_every_anomaly_with_feature_kind_and_description():
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["label"]
    reason = info.reason.add()
    reason.type = anomalies_pb2.AnomalyInfo.INT_TYPE_BIG_INT
    reason.description = "Unexpectedly large value: 12."
    rows = data_gate.describe("eval", anomalies)
    assert rows == [("eval", "label", "INT_TYPE_BIG_INT", "Unexpectedly large value: 12.")]
    report = data_gate.format_report(rows)
    assert report.splitlines()[0].startswith("data validation failed: 1 anomaly;")
    assert "eval   label       INT_TYPE_BIG_INT: Unexpectedly large value: 12." in report


@pytest.mark.parametrize("train, eval_, flagged", [((0.13, 0.10), (0.13, 0.10), False),
                                                   ((0.13, 0.10), (0.20, 0.16), True)])
def test_pixel_skew(monkeypatch, train, eval_, flagged):
    values = {"train": (*train, 1000), "eval": (*eval_, 1000)}
    calls = iter(["train", "eval"])
    monkeypatch.setattr(data_gate, "_pixel_stats", lambda files, limit: values[next(calls)])
    anomalies = anomalies_pb2.Anomalies()
    data_gate.check_pixel_skew("/nonexistent", anomalies, 0.1)
    assert bool(anomalies.anomaly_info) == flagged
