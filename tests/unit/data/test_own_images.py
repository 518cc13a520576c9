"""Your own digit images (`mnist-pipeline data --images DIR`): converted as `predict` converts them."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.data import inputs, own_images
from pipeline.data.data_sets import read_manifest, span_dir, spans
from pipeline.data.sources import load_bundled
from pipeline.home import HOME_ENV
from pipeline.serving import imaging
from tests import synthetic_digits

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
    """Files that cannot be used, and a folder whose name is not a digit."""
    (folder / "3").mkdir(exist_ok=True)
    (folder / "3" / "torn.png").write_bytes(imaging.PNG_MAGIC + b"\0" * 40)
    (folder / "5").mkdir(exist_ok=True)
    (folder / "5" / "not-really.jpg").write_text("a text file named .jpg")
    (folder / "7").mkdir(exist_ok=True)
    (folder / "7" / "notes.txt").write_text("seen on the train")
    (folder / "sevens").mkdir()
    (folder / "sevens" / "a.png").write_bytes(b"")


@pytest.fixture(scope="module")
def mnist_eval():
    return load_bundled()["eval"].window(9000, 400)


def test_a_folder_of_pictures_converts_like_predict_with_every_problem_named(tmp_path, mnist_eval):
    written = write_image_folder(tmp_path / "mine", mnist_eval.images, mnist_eval.labels)
    spoil(tmp_path / "mine")
    converted = own_images.convert(tmp_path / "mine")
    # Every good picture, and nothing else, converted exactly as `predict` converts it.
    assert sum(len(v) for v in converted.labels.values()) == len(written)
    by_pixels = {imaging.read_image(path).tobytes(): label for path, label in written.items()}
    for split in ("train", "eval"):
        for pixels, label in zip(converted.images[split], converted.labels[split]):
            assert by_pixels[pixels.tobytes()] == label
    problems = "\n".join(converted.problems)
    for name in BROKEN:
        assert str(tmp_path / "mine" / name) in problems
    assert f"{tmp_path / 'mine' / 'sevens'}: folder name is not a digit" in problems
    assert len(converted.problems) == 4  # one line each
    # Close to the fixed share per class, and the same split every time.
    eval_share = len(converted.labels["eval"]) / len(written)
    assert abs(eval_share - own_images.EVAL_SHARE) < 0.03
    again = own_images.convert(tmp_path / "mine")
    assert [d.tobytes() for d in again.images["eval"]] == [d.tobytes() for d in converted.images["eval"]]


def test_given_train_and_eval_folders_are_honoured_and_empty_or_small_classes_named(tmp_path, mnist_eval):
    keep = mnist_eval.labels != 4  # no 4 at all
    write_image_folder(tmp_path / "given" / "train", mnist_eval.images[keep][:200], mnist_eval.labels[keep][:200])
    write_image_folder(tmp_path / "given" / "eval", mnist_eval.images[keep][200:260], mnist_eval.labels[keep][200:260])
    few = [p for p in (tmp_path / "given" / "train" / "8").iterdir()][2:]
    for path in few:
        path.unlink()
    converted = own_images.convert(tmp_path / "given")
    assert len(converted.labels["train"]) == 200 - len(few) and len(converted.labels["eval"]) == 60
    assert any("class 4 is empty in train" in p for p in converted.problems)
    assert any(w.startswith("class 8 has ") and "far fewer than the others" in w for w in converted.warnings)


def test_a_folder_with_nothing_usable_is_refused(tmp_path):
    (tmp_path / "none" / "1").mkdir(parents=True)
    (tmp_path / "none" / "1" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no usable images"):
        own_images.convert(tmp_path / "none")
    with pytest.raises(ValueError, match="not a folder"):
        own_images.convert(tmp_path / "missing")


def _cli(home: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], env={**os.environ, HOME_ENV: str(home)},
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)


def test_data_images_writes_a_span_names_the_broken_files_and_exits_2_only_when_nothing_is_usable(
        tmp_path, mnist_eval):
    write_image_folder(tmp_path / "mine", mnist_eval.images[:120], mnist_eval.labels[:120])
    spoil(tmp_path / "mine")
    done = _cli(tmp_path / "home", "data", "--images", str(tmp_path / "mine"))
    assert done.returncode == 0, done.stdout
    for name in BROKEN:
        assert str(tmp_path / "mine" / name) in done.stdout
    assert "span 1 of a fresh data set: images:" in done.stdout and "train" in done.stdout
    span = span_dir(tmp_path / "home" / "data" / "mnist", 1)
    manifest = read_manifest(span)
    assert sum(manifest["counts"].values()) == 120 and len(manifest["left_out"]) == 4
    assert inputs.verify_records(span) == manifest["counts"]
    # As the next span, then a folder with nothing usable: exit 2, nothing written.
    assert _cli(tmp_path / "home", "data", "--next-span", "--images", str(tmp_path / "mine")).returncode == 0
    (tmp_path / "empty" / "2").mkdir(parents=True)
    refused = _cli(tmp_path / "home", "data", "--next-span", "--images", str(tmp_path / "empty"))
    assert refused.returncode == 2 and "no usable images" in refused.stdout
    assert sorted(spans(tmp_path / "home" / "data" / "mnist")) == [1, 2]
