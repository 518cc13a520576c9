"""Digits from files, as the model expects them: 28x28 uint8, a light digit on black.

PNG and JPEG images of any size and colour are converted the way MNIST itself was made: the digit
is cut out, scaled to fit a 20x20 box (keeping its aspect ratio, anti-aliased), and placed in the
28x28 field so that its centre of mass lies at the centre. A dark digit on a light background is
inverted first. `.npy` arrays and IDX files already hold MNIST-format digits and are taken as they
are. No TensorFlow here: reading files must stay cheap.
"""
from __future__ import annotations

import dataclasses
import gzip
import warnings
import zlib
from pathlib import Path

import numpy as np

from pipeline.data.sources import DataError, read_idx_images

SIZE = 28  # the field
BOX = 20  # the digit's bounding box is scaled to fit this square
# Larger images are refused before they are decoded: a photo of a digit needs nowhere near this,
# and a decompression bomb must not take the machine's memory.
MAX_PIXELS = 40_000_000
# Pictures are analysed at most this large (long side): the digit ends up 20 pixels tall.
WORK_SIZE = 256
# An image whose strongest ink is this close to the paper holds no digit ...
MIN_CONTRAST = 24
# ... nor one whose strongest ink stands less than this many noise deviations above the paper.
MIN_SIGNAL_TO_NOISE = 6.0
# Ink must stand this many noise deviations above the paper to count as ink.
INK_SIGMAS = 4.0
# Blobs of ink smaller than this share of the largest one are specks, left out of the crop.
SPECK_SHARE = 0.05

# When a digit is unlike MNIST's, the model's answer is not to be trusted (`unlike_training_data`).
# On the 10,000 MNIST test digits, the share of the field covered by ink (pixels > 127) lies in
# 2.4-33 % and the share of ink outside the central 20x20 box is at most 21 %.
INK_SHARE_RANGE = (0.015, 0.40)
MAX_INK_OUTSIDE_BOX = 0.30

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
NPY_MAGIC = b"\x93NUMPY"
IDX_IMAGES_MAGIC = b"\x00\x00\x08\x03"
IDX_LABELS_MAGIC = b"\x00\x00\x08\x01"
GZIP_MAGIC = b"\x1f\x8b"


class ImageError(ValueError):
    """A file that holds no digit this module can read; the message says which file and why."""


@dataclasses.dataclass(frozen=True)
class Digit:
    """One image to classify: where it came from, and its 28x28 uint8 pixels."""

    source: str  # the file, and for files of many digits the index: "test.npy[3]"
    pixels: np.ndarray


def read_digits(path: str | Path) -> list[Digit]:
    """Every digit in one file: one for an image, one or more for an array or IDX file."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder; give the image files in it")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as err:
        raise ImageError(f"{path}: cannot be read ({err.strerror})") from None
    if not head:
        raise ImageError(f"{path}: the file is empty")

    if head.startswith((PNG_MAGIC, JPEG_MAGIC)):
        return [Digit(str(path), read_image(path))]
    if head.startswith(NPY_MAGIC):
        array = _read_npy(path)
        digits = as_digits(array, str(path))
        if array.shape in ((SIZE, SIZE), (SIZE * SIZE,)):  # one digit, not a batch of one
            return [Digit(str(path), digits[0])]
        arrays = digits
    elif head.startswith((GZIP_MAGIC, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC)):
        arrays = _read_idx(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        raise ImageError(f"{path}: not a {path.suffix.lstrip('.').upper()} image (its content is not an image)")
    else:
        raise ImageError(f"{path}: unknown format; give PNG or JPEG images, .npy arrays or IDX image files")
    return [Digit(f"{path}[{i}]", pixels) for i, pixels in enumerate(arrays)]


def read_image(path: Path) -> np.ndarray:
    """A PNG or JPEG of any size and colour mode as an MNIST-style 28x28 digit."""
    from PIL import Image, UnidentifiedImageError

    too_large = (f"{path}: too large to be a digit (at most {MAX_PIXELS // 1_000_000} million pixels); "
                 "scale it down first")
    try:
        with warnings.catch_warnings():
            # Our own limit (below) is lower and its message clearer than Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(f"{too_large}: it is {width}x{height}")
                reduction = min(width, height) // 256
                if reduction > 1:  # JPEG decodes at 1/2, 1/4 or 1/8 of the size: plenty for 20x20
                    image.draft("L", (width // reduction, height // reduction))
                gray = _grayscale(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(f"{too_large} ({err})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image that can be read (PNG or JPEG expected)") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise ImageError(f"{path}: the image data is damaged ({err})") from None
    return mnist_digit(gray, str(path))


def _grayscale(image) -> np.ndarray:
    """Luminance as float 0-255; transparency is composited over white (paper)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode.startswith("I;16"):
        return np.asarray(image, dtype=np.float64) / 257.0
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        return values * (255.0 / top) if top > 255 else values
    return np.asarray(image.convert("L"), dtype=np.float64)


def mnist_digit(gray: np.ndarray, source: str = "image") -> np.ndarray:
    """Grayscale pixels (float 0-255, any size) -> 28x28 uint8 the way MNIST was made."""
    from PIL import Image

    ink = _ink(_work_size(gray), source)
    rows, cols = np.nonzero(_digit_mask(ink))
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
    box = np.clip(box, 0, 255)
    return _centre_by_mass(box)


def _work_size(gray: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = gray.shape
    if max(height, width) <= WORK_SIZE:
        return gray
    scale = WORK_SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX),
                      dtype=np.float64)


def _ink(gray: np.ndarray, source: str) -> np.ndarray:
    """How much ink each pixel holds, 0-255, whatever the polarity, the lighting and the noise.

    The paper is estimated, not assumed flat: a grey opening with a window wider than any
    stroke removes the strokes and keeps the paper's slow changes (a shadow, a gradient, fading
    light), and ink is what stands out of that estimate. Sensor noise is measured on the paper
    (its median absolute deviation) after a light blur, and only what stands INK_SIGMAS noise
    deviations above the paper counts as ink; everything else becomes 0, as MNIST's black.
    """
    from scipy import ndimage

    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    # Dark ink on light paper is inverted: MNIST digits are light on black.
    raw = (255.0 - gray) if float(np.median(border)) > 127.5 else gray.astype(np.float64)
    height, width = raw.shape
    blur = max(height, width) / 160  # about a tenth of a stroke; none for pictures near MNIST's size
    smooth = ndimage.gaussian_filter(raw, sigma=blur) if blur >= 0.5 else raw
    window = max(3, min(height, width) // 3)
    paper = ndimage.uniform_filter(ndimage.grey_opening(smooth, size=(window, window)), size=window)
    residual = smooth - paper
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    strongest = float(residual.max())
    if strongest < MIN_CONTRAST or strongest < MIN_SIGNAL_TO_NOISE * noise:
        raise ImageError(f"{source}: no digit found (the image is blank, or nothing in it stands out from the paper "
                         "and its noise)")
    floor = max(INK_SIGMAS * noise, 0.1 * strongest)
    # The strokes' own strength (not a single bright speck) sets full ink, as MNIST's 255.
    strong = float(np.percentile(residual[residual > floor], 90)) if (residual > floor).any() else strongest
    ink = np.clip((residual - floor) / max(strong - floor, 1e-6), 0, 1) * 255.0
    return ink


def _digit_mask(ink: np.ndarray) -> np.ndarray:
    """The pixels of the digit: every blob of ink but the specks far smaller than the largest."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > 0)
    sizes = ndimage.sum_labels(ink > 0, labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(sizes >= SPECK_SHARE * sizes.max()) + 1
    return np.isin(labels, keep)


def unlike_training_data(pixels: np.ndarray) -> str | None:
    """Why a 28x28 digit does not look like MNIST's (so the model's answer is not to be trusted),
    or None: no ink at all, ink over too little or too much of the field, or ink spread beyond
    the central 20x20 box where MNIST digits lie (noise, a picture that is not a digit)."""
    ink = pixels.astype(np.float64)
    if ink.max() < MIN_CONTRAST:
        return "no digit found (blank)"
    share = float((ink > 127).mean())
    if not INK_SHARE_RANGE[0] <= share <= INK_SHARE_RANGE[1]:
        return f"unlike the training data (ink covers {share:.0%} of the field)"
    outside = 1 - float(ink[4:24, 4:24].sum()) / float(ink.sum())
    if outside > MAX_INK_OUTSIDE_BOX:
        return f"unlike the training data ({outside:.0%} of the ink lies outside the digit's box)"
    return None


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place the scaled digit in the 28x28 field with its centre of mass at the centre."""
    height, width = box.shape
    ys, xs = np.mgrid[0:height, 0:width]
    mass = box.sum()
    centre_y, centre_x = (ys * box).sum() / mass, (xs * box).sum() / mass
    # MNIST's centres of mass lie at pixel (14, 14); keep the whole box inside the field.
    top = int(np.clip(round(SIZE / 2 - centre_y), 0, SIZE - height))
    left = int(np.clip(round(SIZE / 2 - centre_x), 0, SIZE - width))
    field = np.zeros((SIZE, SIZE), dtype=np.float64)
    field[top:top + height, left:left + width] = box
    return np.round(field).astype(np.uint8)


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ImageError(f"{path}: not a readable .npy array ({err})") from None


def as_digits(array: np.ndarray, source: str = "array") -> np.ndarray:
    """An array of MNIST-format digits, [28, 28], [N, 28, 28], [784] or [N, 784], as uint8 [N, 28, 28].

    Values are 0-255 (a light digit on black, as in MNIST); float arrays whose values all lie in
    [0, 1] are taken as scaled by 1/255 and scaled back.
    """
    array = np.asarray(array)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ImageError(f"{source}: holds {array.dtype} values, not pixel numbers")
    pixels = SIZE * SIZE
    if array.shape in ((SIZE, SIZE), (pixels,)):
        array = array.reshape(1, SIZE, SIZE)
    elif array.ndim == 3 and array.shape[1:] == (SIZE, SIZE) or array.ndim == 2 and array.shape[1] == pixels:
        array = array.reshape(-1, SIZE, SIZE)
    else:
        raise ImageError(f"{source}: shape {list(array.shape)} is not [28, 28], [N, 28, 28], [784] or "
                         f"[N, 784]; for pictures of another size, give PNG or JPEG files")
    if array.size == 0:
        raise ImageError(f"{source}: holds no digits")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(f"{source}: holds NaN or infinite values")
    if values.min() < 0 or values.max() > 255:
        raise ImageError(f"{source}: values range from {values.min():g} to {values.max():g}; "
                         "pixels must lie in 0-255")
    if np.issubdtype(array.dtype, np.floating) and values.max() <= 1.0:
        values = values * 255.0
    return np.round(values).astype(np.uint8)


def _read_idx(path: Path) -> np.ndarray:
    if path.suffix != ".gz":
        with open(path, "rb") as f:
            magic = f.read(4)
    else:
        try:
            with gzip.open(path) as f:
                magic = f.read(4)
        except (OSError, EOFError, zlib.error) as err:
            raise ImageError(f"{path}: a damaged gzip file ({err})") from None
    if magic == IDX_LABELS_MAGIC:
        raise ImageError(f"{path}: an IDX label file; give the IDX image file (idx3-ubyte)")
    if magic != IDX_IMAGES_MAGIC:
        raise ImageError(f"{path}: unknown format; give PNG or JPEG images, .npy arrays or IDX image files")
    try:
        return read_idx_images(path)
    except DataError as err:
        raise ImageError(str(err)) from None
