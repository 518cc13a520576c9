"""Reading back the TFRecords of a data set's split, as dicts of their features."""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from pipeline.data import inputs


def parse_example(record: bytes) -> dict:
    example = tf.train.Example.FromString(record)
    return {k: (v.bytes_list.value or v.int64_list.value) for k, v in example.features.feature.items()}


def read_split(folder: Path, split: str) -> list[dict]:
    """Every example of `split` under `folder` (a span's folder or a folder without spans)."""
    files = [str(f) for f in inputs.split_files(folder, split)]
    return [parse_example(r) for r in tf.data.TFRecordDataset(files).as_numpy_iterator()]
