"""Your own digit images as a data set: a folder of class folders, converted as `predict` converts.

    DIR/0/*.png ... DIR/9/*.jpg               split into train and eval by a fixed, seeded ratio
    DIR/train/0/*.png ... DIR/eval/9/*.png    the split as given

Each PNG or JPEG goes through `imaging.read_image`, the conversion `predict` uses (the way MNIST
was made: cut out, scaled into 20x20, centred by mass in 28x28, light on dark), so the model
trains on digits exactly as it will be asked about them. What cannot be used (a file that is not
a readable image, a folder whose name is not a digit, a class without images) is named, one line
each, and left out; the rest is converted. No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from components import features
from pipeline.serving import imaging

log = logging.getLogger(__name__)

DIGITS = [str(d) for d in range(10)]
# Share of each class that goes to eval when the folder gives no split, and the seed that fixes
# which images: the same folder always gives the same split.
EVAL_SHARE = 0.2
SPLIT_SEED = 20161
# A class with fewer images than this share of the median class skews the model: warned about.
SMALL_CLASS_SHARE = 0.5
PROGRESS_EVERY = 500  # images between progress lines


@dataclasses.dataclass
class Converted:
    images: dict[str, list[np.ndarray]]  # split -> 28x28 uint8 digits
    labels: dict[str, list[int]]
    problems: list[str]  # one line per file or folder left out, naming it and why
    warnings: list[str]

    def counts(self) -> dict[str, dict[str, int]]:
        """split -> digit -> images."""
        return {split: {d: labels.count(int(d)) for d in DIGITS} for split, labels in self.labels.items()}


def _class_folders(folder: Path, problems: list[str]) -> dict[str, Path]:
    """digit -> its folder; names every entry that is not a digit's folder."""
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            problems.append(f"{entry}: not inside a class folder (0-9); left out")
        elif entry.name not in DIGITS:
            problems.append(f"{entry}: folder name is not a digit 0-9; left out")
        else:
            found[entry.name] = entry
    return found


def _read_class(folder: Path, problems: list[str], done: list[int]) -> list[np.ndarray]:
    digits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() not in imaging.IMAGE_SUFFIXES:
            problems.append(f"{path}: not a PNG or JPEG file; left out")
            continue
        try:
            digits.append(imaging.read_image(path))
        except imaging.ImageError as err:
            problems.append(f"{err}; left out")
        done[0] += 1
        if done[0] % PROGRESS_EVERY == 0:
            log.info("converted %d images", done[0])
    return digits


def _seeded_split(digits: list[np.ndarray], digit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, eval): EVAL_SHARE of the class, at least one image once it has two, chosen by a
    fixed seed over the class's images in file-name order."""
    order = np.random.default_rng([SPLIT_SEED, digit]).permutation(len(digits))
    eval_count = max(1, round(len(digits) * EVAL_SHARE)) if len(digits) >= 2 else 0
    chosen = set(order[:eval_count].tolist())
    return ([d for i, d in enumerate(digits) if i not in chosen], [d for i, d in enumerate(digits) if i in chosen])


def convert(folder: Path) -> Converted:
    """Every usable image under `folder`, by split and class; raises ValueError when nothing is."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder (give a folder of class folders 0-9)")
    problems: list[str] = []
    done = [0]
    given = [folder / split for split in features.SPLITS]
    result = Converted({s: [] for s in features.SPLITS}, {s: [] for s in features.SPLITS}, problems, [])
    if all(p.is_dir() for p in given):
        for split_folder in given:
            classes = _class_folders(split_folder, problems)
            for digit in DIGITS:
                digits = _read_class(classes[digit], problems, done) if digit in classes else []
                if not digits:
                    problems.append(f"{split_folder / digit}: no readable images; class {digit} is empty in "
                                    f"{split_folder.name}")
                result.images[split_folder.name] += digits
                result.labels[split_folder.name] += [int(digit)] * len(digits)
    else:
        classes = _class_folders(folder, problems)
        for digit in DIGITS:
            digits = _read_class(classes[digit], problems, done) if digit in classes else []
            if not digits:
                problems.append(f"{folder / digit}: no readable images; class {digit} is empty")
            for split, part in zip(features.SPLITS, _seeded_split(digits, int(digit))):
                result.images[split] += part
                result.labels[split] += [int(digit)] * len(part)
    totals = {d: sum(counts[d] for counts in result.counts().values()) for d in DIGITS}
    if not any(totals.values()):
        raise ValueError(f"{folder}: no usable images (PNG or JPEG in class folders 0-9)"
                         + (f"; {len(problems)} problem(s), the first: {problems[0]}" if problems else ""))
    for split in features.SPLITS:
        if not result.labels[split]:
            raise ValueError(f"{folder}: no usable {split} images (each class needs at least two images to be "
                             f"split, or give train/ and eval/ folders)")
    present = [n for n in totals.values() if n]
    median = float(np.median(present))
    for digit, count in totals.items():
        if 0 < count < SMALL_CLASS_SHARE * median:
            result.warnings.append(f"class {digit} has {count} image(s), far fewer than the others (median "
                                   f"{median:.0f}): the model will be skewed against it")
    return result
