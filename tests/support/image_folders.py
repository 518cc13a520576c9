"""Folders of digit pictures as people have them (`mnist-pipeline data --images DIR`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.serving import imaging
from tests.support import synthetic_digits

# The files `spoil` adds that cannot be used, relative to the folder.
BROKEN = ("3/torn.png", "5/not-really.jpg", "7/notes.txt")


def write_image_folder(folder: Path, images: np.ndarray, labels: np.ndarray, seed: int = 7) -> dict[Path, int]:
    """MNIST digits as the pictures people have, in class folders: other sizes, margins, dark
    on light, colour, JPEG; returns each picture's label."""
    rng = np.random.default_rng(seed)
    written = {}
    for i, (digit, label) in enumerate(zip(images, labels)):
        picture, suffix = synthetic_digits.as_picture(digit, i, rng, max_size=120, margin_divisor=3)
        path = folder / str(label) / f"{i:04d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path)
        written[path] = int(label)
    return written


def spoil(folder: Path) -> None:
    """Files that cannot be used (`BROKEN`), and a folder whose name is not a digit."""
    (folder / "3").mkdir(exist_ok=True)
    (folder / "3" / "torn.png").write_bytes(imaging.PNG_MAGIC + b"\0" * 40)
    (folder / "5").mkdir(exist_ok=True)
    (folder / "5" / "not-really.jpg").write_text("a text file named .jpg")
    (folder / "7").mkdir(exist_ok=True)
    (folder / "7" / "notes.txt").write_text("seen on the train")
    (folder / "sevens").mkdir()
    (folder / "sevens" / "a.png").write_bytes(b"")
