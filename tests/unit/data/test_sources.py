"""Where the digits come from (pipeline/data/sources.py): the bundled MNIST, IDX files."""
import numpy as np

from pipeline.data.sources import load_bundled, load_idx
from tests.support.idx import write_idx_images, write_idx_labels


def test_bundled_mnist_is_the_official_split():
    splits = load_bundled()
    assert splits["train"].images.shape == (60000, 28, 28)
    assert splits["eval"].images.shape == (10000, 28, 28)
    assert splits["train"].images.dtype == np.uint8
    # The original bytes: full range, not rescaled floats.
    assert splits["train"].images.max() == 255
    assert set(np.unique(splits["eval"].labels)) == set(range(10))
    # The official test set's first labels.
    assert list(splits["eval"].labels[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_uncompressed_and_dotted_idx_names_are_found(tmp_path):
    rng = np.random.default_rng(1)
    for prefix in ("train", "t10k"):
        write_idx_images(tmp_path / f"{prefix}-images.idx3-ubyte", rng.integers(0, 256, (3, 28, 28)))
        write_idx_labels(tmp_path / f"{prefix}-labels.idx1-ubyte", [1, 2, 3])
    assert len(load_idx(tmp_path)["eval"].labels) == 3

