"""Reading a split of an Examples artifact back: the digits, labels and serialized records, for
the run's report and the model cards."""
from __future__ import annotations

import numpy as np

from components import features
from pipeline.storage import files as stored


def read_examples(uri: str, split: str, limit: int):
    """(images uint8 [N, 28, 28] or None per unreadable record, labels, serialized) of a split."""
    import tensorflow as tf

    images, labels, serialized = [], [], []
    with stored.local_copy(features.split_dir(uri, split)) as local:
        dataset = tf.data.TFRecordDataset(sorted(map(str, local.glob("*"))), compression_type="GZIP")
        # In batches: one record at a time, Python's iteration took 1 s of 10,000 records.
        records = [record for batch in dataset.take(limit).batch(1024).as_numpy_iterator() for record in batch]
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        raw = feature[features.IMAGE_KEY].bytes_list.value[0] if features.IMAGE_KEY in feature else b""
        size = features.IMAGE_SIZE
        images.append(np.frombuffer(raw, np.uint8).reshape(size, size) if len(raw) == features.IMAGE_BYTES else None)
        label = feature[features.LABEL_KEY].int64_list.value
        labels.append(label[0] if label else -1)
        serialized.append(record)
    return images, np.array(labels), serialized
