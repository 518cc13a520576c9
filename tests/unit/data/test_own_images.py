"""Your own digit images (`mnist-pipeline data --images DIR`, pipeline/data/own_images.py):
converted as `predict` converts them."""
import pytest

from pipeline.data import own_images
from pipeline.data.sources import load_bundled
from pipeline.serving import imaging
from tests.support.image_folders import BROKEN, spoil, write_image_folder


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
