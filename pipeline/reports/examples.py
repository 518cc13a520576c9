"""Reading a split of an Examples artifact back: the digits, labels and serialized records, for
the run's report and the model cards."""
from __future__ import annotations

import contextlib

import numpy as np

from components import features
from pipeline.storage import files as stored

# Records handed from tf.data to Python (or counted) a batch at a time: one at a time, the
# iterator alone cost about 0.1 ms a record (1 s of 10,000; counting 60,000 took 1.2-1.3 s).
READ_BATCH = 1024


@contextlib.contextmanager
def _records(uri: str, split: str):
    """A split's serialized records (its GZIP TFRecord files) as a dataset."""
    import tensorflow as tf

    with stored.local_copy(features.split_dir(uri, split)) as local:
        yield tf.data.TFRecordDataset(sorted(map(str, local.glob("*"))), compression_type="GZIP")


def count_examples(uri: str, split: str) -> int:
    """How many records a split holds (counted in the graph: no end-of-sequence warning)."""
    import tensorflow as tf

    with _records(uri, split) as records:
        return int(records.batch(READ_BATCH).reduce(
            tf.constant(0, tf.int64), lambda count, batch: count + tf.size(batch, out_type=tf.int64)))


def read_examples(uri: str, split: str, limit: int):
    """(images uint8 [N, 28, 28] or None per unreadable record, labels, serialized) of a split."""
    import tensorflow as tf

    images, labels, serialized = [], [], []
    with _records(uri, split) as dataset:
        records = [record for batch in dataset.take(limit).batch(READ_BATCH).as_numpy_iterator() for record in batch]
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        raw = feature[features.IMAGE_KEY].bytes_list.value[0] if features.IMAGE_KEY in feature else b""
        size = features.IMAGE_SIZE
        images.append(np.frombuffer(raw, np.uint8).reshape(size, size) if len(raw) == features.IMAGE_BYTES else None)
        label = feature[features.LABEL_KEY].int64_list.value
        labels.append(label[0] if label else -1)
        serialized.append(record)
    return images, np.array(labels), serialized
