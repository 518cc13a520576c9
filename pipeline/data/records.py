"""Writing splits as TFRecords of tf.Example, and the atomic folder swap every write goes through.

Every split is a folder of `*.tfrecord` files of tf.Example with the features `image_raw` (the
784 original uint8 bytes, row-major), `label` (int64 0-9), `height`, `width` and `depth`.
Output is written to a temporary folder beside the destination and renamed into place only when
complete: a failed or interrupted conversion leaves nothing behind. In object storage, which has
no rename, it is written to a local folder and put in the store when complete, its manifests last
(a span without its manifest is no span: `pipeline.data.data_sets.spans`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from components import features
from pipeline.storage import files
from pipeline.storage.settings import is_remote

# Hidden folders beside a data set or span (`.<name><marker>...`) while `atomic_dir` replaces it:
# the new content being written, and the old content moved aside for the moment of the swap.
STAGING, ASIDE = ".tmp-", ".old-"


def serialize_example(image: np.ndarray, label: int) -> bytes:
    import tensorflow as tf

    def int64(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    height, width = image.shape
    return tf.train.Example(features=tf.train.Features(feature={
        features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        features.LABEL_KEY: int64(int(label)),
        **dict(zip(features.SHAPE_KEYS, (int64(height), int64(width), int64(1)))),
    })).SerializeToString()


@contextlib.contextmanager
def atomic_dir(destination: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces `destination` only if the block succeeds. The old
    folder is moved aside before the new one moves in, and removed only after: a crash between
    the two renames leaves it aside, and `remove_partial` puts it back. A stored `destination`
    (s3://) is written locally, then replaces the stored one (`_stored_dir`)."""
    if is_remote(destination):
        with _stored_dir(destination) as staging:
            yield staging
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, and named as staging: TFX's span pattern (span-*) never matches it.
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}{STAGING}", dir=destination.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the data is not
    try:
        yield staging
        aside = None
        if destination.exists():
            aside = destination.with_name(f".{destination.name}{ASIDE}{uuid.uuid4().hex[:8]}")
            os.replace(destination, aside)
        os.replace(staging, destination)
        if aside:
            shutil.rmtree(aside)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextlib.contextmanager
def _stored_dir(destination: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mnist-pipeline-upload-") as work:
        yield Path(work)
        if destination.exists():
            files.remove_tree(destination)
        # The files the readers look for to know a folder is complete go in last.
        last = {features.SPAN_MANIFEST, features.DATA_SET_FILE}
        ordered = sorted(Path(work).rglob("*"), key=lambda p: (p.name in last, len(p.parts)))
        for path in (p for p in ordered if p.is_file()):
            files.upload(path, f"{destination}/{path.relative_to(work).as_posix()}")


def write_split(folder: Path, name: str, records: Callable[[], Iterator[bytes]], count: int,
                shards: int) -> None:
    import tensorflow as tf

    split_dir = folder / name
    split_dir.mkdir()
    shards = max(1, min(shards, count))
    per_shard = -(-count // shards)
    writer: Any = None  # a tf.io.TFRecordWriter from the first record on (TensorFlow is untyped: Any)
    for index, record in enumerate(records()):
        if index % per_shard == 0:
            if writer:
                writer.close()
            shard = index // per_shard
            writer = tf.io.TFRecordWriter(str(split_dir / f"mnist-{name}-{shard:05d}-of-{shards:05d}.tfrecord"))
        writer.write(record)
    if writer:
        writer.close()

