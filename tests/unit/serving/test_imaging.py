"""Reading digits from files: MNIST-style conversion of pictures, arrays, IDX, and bad input."""
import numpy as np
import pytest
from PIL import Image

from pipeline.data.sources import load_bundled
from pipeline.serving import imaging
from tests.support import synthetic_digits
from tests.support.idx import write_idx_images, write_idx_labels


@pytest.fixture(scope="module")
def mnist_test():
    return load_bundled()["eval"]


def _correlation(a, b) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_an_mnist_digit_comes_back_unchanged(mnist_test):
    for digit in mnist_test.images[:20]:
        assert _correlation(imaging.mnist_digit(digit.astype(float)), digit) > 0.99


def test_a_large_dark_on_light_colour_photo_becomes_an_mnist_digit(tmp_path, mnist_test):
    digit = mnist_test.images[0]
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BICUBIC))
    paper = np.pad(255 - big, ((30, 90), (120, 10)), constant_values=255)  # off-centre, dark ink
    rgb = np.stack([paper, paper, np.full_like(paper, 255)], axis=-1)  # blue ink-ish on white
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=90)
    [result] = imaging.read_digits(tmp_path / "photo.jpg")
    assert result.pixels.shape == (28, 28) and result.pixels.dtype == np.uint8
    assert _correlation(result.pixels, digit) > 0.9
    # As MNIST: the digit fits a 20x20 box, its centre of mass at (14, 14).
    rows, cols = np.nonzero(result.pixels)
    assert max(rows.ptp(), cols.ptp()) + 1 <= 21
    ys, xs = np.mgrid[0:28, 0:28]
    mass = result.pixels.astype(float)
    assert abs((ys * mass).sum() / mass.sum() - 14) < 1 and abs((xs * mass).sum() / mass.sum() - 14) < 1


def test_transparent_png_is_composited_on_paper(tmp_path, mnist_test):
    digit = mnist_test.images[1]
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = digit  # black ink whose opacity is the digit, on a transparent background
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ink.png")
    [result] = imaging.read_digits(tmp_path / "ink.png")
    assert _correlation(result.pixels, digit) > 0.98


def test_arrays_in_every_accepted_shape(tmp_path, mnist_test):
    digits = mnist_test.images[:3]
    np.save(tmp_path / "one.npy", digits[0])
    np.save(tmp_path / "flat.npy", digits.reshape(3, 784))
    np.save(tmp_path / "scaled.npy", digits.astype(np.float32) / 255.0)
    [one] = imaging.read_digits(tmp_path / "one.npy")
    assert one.source == str(tmp_path / "one.npy") and np.array_equal(one.pixels, digits[0])
    flat = imaging.read_digits(tmp_path / "flat.npy")
    assert [d.source for d in flat] == [f"{tmp_path / 'flat.npy'}[{i}]" for i in range(3)]
    assert np.array_equal(np.stack([d.pixels for d in flat]), digits)
    scaled = np.stack([d.pixels for d in imaging.read_digits(tmp_path / "scaled.npy")])
    assert np.abs(scaled.astype(int) - digits).max() <= 1


def test_idx_image_files_plain_and_gzipped(tmp_path, mnist_test):
    digits = mnist_test.images[:4]
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        write_idx_images(tmp_path / name, digits)
        read = imaging.read_digits(tmp_path / name)
        assert np.array_equal(np.stack([d.pixels for d in read]), digits)
    write_idx_labels(tmp_path / "labels-idx1-ubyte", mnist_test.labels[:4])
    with pytest.raises(imaging.ImageError, match="an IDX label file"):
        imaging.read_digits(tmp_path / "labels-idx1-ubyte")


@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"this is not a picture\n", "not a PNG image"),
    ("empty.png", b"", "the file is empty"),
    ("random.bin", b"\x01\x02\x03" * 10, "unknown format"),
    ("broken.png", imaging.PNG_MAGIC + b"\x00" * 40, "not an image that can be read|damaged"),
    # A gzip header over a damaged deflate stream: zlib.error, not an OSError.
    ("t10k-images-idx3-ubyte.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + b"\xff" * 64,
     "a damaged gzip file"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(imaging.ImageError, match=message) as err:
        imaging.read_digits(tmp_path / name)
    assert name in str(err.value)


def test_missing_paths_and_folders(tmp_path):
    with pytest.raises(imaging.ImageError, match="no such file"):
        imaging.read_digits(tmp_path / "missing.png")
    with pytest.raises(imaging.ImageError, match="is a folder"):
        imaging.read_digits(tmp_path)


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    Image.new("L", (10000, 10000), 255).save(tmp_path / "huge.png", compress_level=1)
    with pytest.raises(imaging.ImageError, match="too large .* 10000x10000"):
        imaging.read_digits(tmp_path / "huge.png")


def test_a_blank_image_holds_no_digit(tmp_path):
    Image.new("RGB", (64, 64), (200, 200, 200)).save(tmp_path / "blank.png")
    with pytest.raises(imaging.ImageError, match="no digit found"):
        imaging.read_digits(tmp_path / "blank.png")


@pytest.mark.parametrize("array, message", [
    (np.zeros((32, 32)), r"shape \[32, 32\] is not"),
    (np.full((28, 28), 300.0), "pixels must lie in 0-255"),
    (np.full((28, 28), np.nan), "NaN"),
    (np.array([["a"] * 28] * 28), "not pixel numbers"),
    (np.zeros((0, 784)), "holds no digits"),
])
def test_bad_arrays_get_a_clear_message(array, message):
    with pytest.raises(imaging.ImageError, match=message):
        imaging.as_digits(array, "test.npy")


def test_noise_and_paper_fading_across_the_picture_do_not_stretch_the_crop():
    """Issue 15: keeping every pixel above 10 % of the strongest ink let sensor noise and a
    lighting gradient stretch the crop to the whole canvas (correlation with the clean digit's
    conversion 0.18-0.56). The paper is now estimated and the noise measured."""
    rng = np.random.default_rng(3)
    correlations = []
    for digit in range(10):
        clean = synthetic_digits.drawn_digit(digit, rng)
        spoilt = synthetic_digits.noisy(synthetic_digits.faded(clean, rng), rng)
        correlations.append(_correlation(imaging.mnist_digit(np.asarray(clean, dtype=float)),
                                         imaging.mnist_digit(np.asarray(spoilt, dtype=float))))
    assert np.median(correlations) > 0.95 and min(correlations) > 0.6, np.round(correlations, 3)
