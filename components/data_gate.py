"""The data gate: stops the pipeline before Transform when the data breaks its contract.

ExampleValidator only *records* anomalies; in TFX 1.16 nothing downstream stops on them. This
component reads what ExampleValidator found, adds the checks a schema cannot express, and fails
(so Airflow marks the task failed and Transform, Trainer, Evaluator and Pusher never run) when
anything is wrong. The checks it adds:
- `image_raw` holds exactly 784 bytes in every example (from the statistics' byte lengths);
- skew between the splits: the eval split's label distribution against train's (the label's
  drift comparator in the curated schema), and its pixel statistics (mean intensity and share of
  ink pixels) against train's.
Everything it found is written as an ExampleAnomalies artifact, one Anomalies proto per split,
in the same format as ExampleValidator's.
"""
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from tfx.dsl.component.experimental.annotations import (
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components import features
from components.anomalies import ANOMALIES_FILE, describe, load_anomalies

PIXEL_SAMPLE = 10000  # examples per split read for pixel statistics


class DataValidationError(RuntimeError):
    """The data broke its contract; the message lists every anomaly."""


def _add(anomalies, feature: str, kind: str, short: str, description: str) -> None:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    info = anomalies.anomaly_info[feature]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.short_description = info.short_description or short
    info.description = "; ".join(filter(None, [info.description, description]))
    reason = info.reason.add()
    reason.type = anomalies_pb2.AnomalyInfo.Type.Value(kind)
    reason.short_description = short
    reason.description = description


def _feature_stats(statistics, name: str):
    for feature in statistics.datasets[0].features:
        if feature.path.step and feature.path.step[0] == name:
            return feature
    return None


def check_image_bytes(statistics, anomalies) -> None:
    feature = _feature_stats(statistics, features.IMAGE_KEY)
    expected = features.IMAGE_BYTES
    if feature is None or feature.WhichOneof("stats") != "bytes_stats":
        return  # a missing or mistyped image_raw is ExampleValidator's finding already
    low, high = feature.bytes_stats.min_num_bytes, feature.bytes_stats.max_num_bytes
    if feature.bytes_stats.common_stats.num_non_missing and (low != expected or high != expected):
        _add(anomalies, features.IMAGE_KEY, "CUSTOM_VALIDATION", "Wrong image size",
             f"image_raw must hold exactly {expected} bytes (28x28x1), found {low:.0f} to {high:.0f} bytes")


def _pixel_stats(files: Iterable[str], limit: int) -> tuple[float, float, int]:
    """Mean intensity (0-1) and share of ink pixels (> 0.5) over the first `limit` images."""
    import tensorflow as tf

    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").take(limit)
    # Missing or wrongly sized images are anomalies of their own: leave them out here.
    spec = {features.IMAGE_KEY: tf.io.VarLenFeature(tf.string)}
    size = features.IMAGE_BYTES
    total, ink, count = 0.0, 0.0, 0
    for batch in dataset.batch(1024):
        values = tf.io.parse_example(batch, spec)[features.IMAGE_KEY].values.numpy()
        raw = b"".join(v for v in values if len(v) == size)
        if not raw:
            continue
        pixels = np.frombuffer(raw, dtype=np.uint8).astype(np.float32) / 255.0
        total += float(pixels.sum())
        ink += float((pixels > 0.5).sum())
        count += pixels.size
    return (total / count, ink / count, count) if count else (0.0, 0.0, 0)


def check_pixel_skew(examples_uri: str, anomalies, max_shift: float) -> None:
    import tensorflow as tf

    stats = {}
    for split in features.SPLITS:
        files = tf.io.gfile.glob(os.path.join(features.split_dir(examples_uri, split), "*"))
        stats[split] = _pixel_stats(files, PIXEL_SAMPLE)
    (train_mean, train_ink, _), (eval_mean, eval_ink, count) = stats[features.TRAIN], stats[features.EVAL]
    if not count or not train_mean:
        return
    for name, train_value, eval_value in (("mean intensity", train_mean, eval_mean),
                                          ("ink share", train_ink, eval_ink)):
        shift = abs(eval_value - train_value) / train_value
        if shift > max_shift:
            _add(anomalies, features.IMAGE_KEY, "CUSTOM_VALIDATION", "Pixel statistics skew",
                 f"eval {name} {eval_value:.4f} differs from train's {train_value:.4f} by {shift:.0%} "
                 f"(allowed: {max_shift:.0%})")


def check_label_skew(train_statistics, eval_statistics, schema, anomalies) -> None:
    """The label's drift comparator in the schema, applied to eval against train."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    comparators = {anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
                   anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH}
    skew = tfdv.validate_statistics(eval_statistics, schema, previous_statistics=train_statistics)
    for feature, info in skew.anomaly_info.items():
        for reason in info.reason:
            if reason.type in comparators:
                _add(anomalies, feature, anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                     "Label distribution skew", f"eval against train: {reason.description}")


def format_report(rows: list[tuple[str, str, str, str]]) -> str:
    lines = [f"data validation failed: {len(rows)} anomal{'y' if len(rows) == 1 else 'ies'}; "
             "Transform and Trainer did not run, nothing was pushed"]
    for split, feature, kind, description in rows:
        lines.append(f"  {split:<5}  {feature:<10}  {kind}: {description}")
    return "\n".join(lines)


# TFX's overloads of `component` take a types.FunctionType, which a def is at run time but not to mypy.
@component  # type: ignore[call-overload]
def DataValidationGate(
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    schema: InputArtifact[standard_artifacts.Schema],
    findings: OutputArtifact[standard_artifacts.ExampleAnomalies],
    max_pixel_shift: Parameter[float] = 0.1,
) -> None:
    import tensorflow_data_validation as tfdv
    from tfx.utils import io_utils

    schema_proto = tfdv.load_schema_text(os.path.join(schema.uri, "schema.pbtxt"))
    stats = {split: tfdv.load_stats_binary(os.path.join(features.split_dir(statistics.uri, split),
                                                        features.STATISTICS_FILE))
             for split in features.SPLITS}
    found: dict[str, Any] = {}  # each split's Anomalies proto
    for split in features.SPLITS:
        found[split] = load_anomalies(anomalies.uri, split)
        check_image_bytes(stats[split], found[split])
    check_label_skew(stats[features.TRAIN], stats[features.EVAL], schema_proto, found[features.EVAL])
    check_pixel_skew(examples.uri, found[features.EVAL], max_pixel_shift)

    findings.split_names = artifact_utils.encode_split_names(list(features.SPLITS))
    for split, result in found.items():
        io_utils.write_bytes_file(os.path.join(features.split_dir(findings.uri, split), ANOMALIES_FILE),
                                  result.SerializeToString())
    rows = [row for split in features.SPLITS for row in describe(split, found[split])]
    if rows:
        raise DataValidationError(format_report(rows))

