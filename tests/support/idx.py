"""IDX files (MNIST's own format) written for tests, and broken on purpose."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from pipeline.data.sources import read_idx_images


def write_idx_images(path: Path, images: np.ndarray, magic: int = 0x803) -> Path:
    count, rows, cols = images.shape
    payload = struct.pack(">IIII", magic, count, rows, cols) + images.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def write_idx_labels(path: Path, labels: np.ndarray, magic: int = 0x801) -> Path:
    payload = struct.pack(">II", magic, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def write_idx_folder(folder: Path, splits: dict[str, int] | None = None, seed: int = 0) -> Path:
    """The four standard IDX files (gzipped) in `folder`, of small random digits: 50 train
    (`train-*`) and 20 eval (`t10k-*`) unless `splits` says otherwise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (splits or {"train": 50, "t10k": 20}).items():
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


def break_idx(folder: Path, name: str, how: str) -> Path:
    """Spoil one file of an IDX folder from `write_idx_folder` (50 train images) in one way."""
    path = folder / name
    if how == "magic":
        images = read_idx_images(path)
        write_idx_images(path, images, magic=0x1234)
    elif how == "truncate":
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw[: len(raw) - 100]))
    elif how == "labels":
        write_idx_labels(path, [12] + [1] * 49)
    elif how == "count":
        write_idx_labels(path, [1] * 49)
    elif how == "size":
        write_idx_images(path, np.zeros((50, 32, 32), np.uint8))
    elif how == "missing":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"not gzip at all")
    elif how == "deflate":  # a valid gzip header over a damaged deflate stream: zlib.error
        damaged = bytearray(path.read_bytes())
        stream = damaged.index(b"\0", 10) + 1  # after the header and its file name
        damaged[stream:stream + 8] = b"\xff" * 8
        path.write_bytes(bytes(damaged))
    elif how == "empty":
        write_idx_images(path, np.zeros((0, 28, 28), np.uint8))
        write_idx_labels(path.with_name(path.name.replace("images-idx3", "labels-idx1")), [])
    else:
        raise ValueError(f"no way to break an IDX file called {how!r}")
    return path
