"""Pictures of digits made here, not taken from MNIST: what a scan or a phone gives.

Two kinds, both dark ink on light paper at 128x128: digits rendered from the machine's fonts
(DejaVu, in several weights and slants), and hand-drawn-like digits, each a few pen strokes
whose points wobble, slant and vary in thickness and darkness (pencil to ink). Each can be
spoilt by the conditions of `CONDITIONS`: sensor noise, paper that fades across the picture,
blur, or all three. `predict`'s robustness is measured on them (tests/e2e/test_predict.py, README).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE = 128
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSans-Oblique.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed.ttf", "DejaVuSerif-Italic.ttf")

# Each digit as pen strokes, points in a unit box (x right, y down).
def _arc(cx, cy, rx, ry, start, end, steps=14):
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


STROKES = {
    0: [_arc(0.5, 0.5, 0.3, 0.42, 0, 360, 24)],
    1: [[(0.35, 0.25), (0.55, 0.08), (0.55, 0.92)]],
    2: [_arc(0.5, 0.32, 0.28, 0.24, 200, 380) + [(0.22, 0.9), (0.8, 0.9)]],
    3: [_arc(0.48, 0.3, 0.26, 0.21, 200, 450), _arc(0.48, 0.7, 0.3, 0.22, 270, 520)],
    4: [[(0.62, 0.92), (0.62, 0.08), (0.18, 0.65), (0.85, 0.65)]],
    5: [[(0.78, 0.1), (0.3, 0.1), (0.27, 0.45)] + _arc(0.48, 0.65, 0.3, 0.25, 230, 500)],
    6: [[(0.7, 0.1), (0.35, 0.45)] + _arc(0.5, 0.68, 0.26, 0.23, 190, 550)],
    7: [[(0.2, 0.1), (0.8, 0.1), (0.4, 0.92)]],
    8: [_arc(0.5, 0.29, 0.22, 0.19, 90, 450), _arc(0.5, 0.7, 0.28, 0.22, -90, 270)],
    9: [_arc(0.5, 0.32, 0.25, 0.22, 0, 360) + [(0.74, 0.35), (0.6, 0.92)]],
}


def _paper(rng) -> Image.Image:
    return Image.new("L", (SIZE, SIZE), int(rng.integers(215, 250)))


def font_digit(digit: int, rng) -> Image.Image:
    """A digit in one of the fonts, at a random size, position, darkness and small tilt."""
    names = [n for n in FONTS if (FONT_DIR / n).is_file()]
    size = int(rng.integers(60, 100))
    font = ImageFont.truetype(str(FONT_DIR / names[rng.integers(len(names))]), size) if names \
        else ImageFont.load_default(size)
    glyph = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(glyph)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    x = (SIZE - (right - left)) / 2 - left + rng.integers(-12, 13)
    y = (SIZE - (bottom - top)) / 2 - top + rng.integers(-12, 13)
    draw.text((x, y), str(digit), fill=255, font=font)
    glyph = glyph.rotate(float(rng.uniform(-8, 8)), resample=Image.BILINEAR)
    return _ink_on_paper(glyph, rng)


def drawn_digit(digit: int, rng) -> Image.Image:
    """A digit drawn as pen strokes: wobbly points, a slant, uneven scale, a pen 4-11 px wide."""
    glyph = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(glyph)
    width = int(rng.integers(4, 12))
    scale_x, scale_y = rng.uniform(55, 80), rng.uniform(70, 95)
    slant = rng.uniform(-0.25, 0.25)
    offset = np.array([SIZE / 2, SIZE / 2]) + rng.integers(-10, 11, 2)
    for stroke in STROKES[digit]:
        points = np.array(stroke) + rng.normal(0, 0.025, (len(stroke), 2))
        points -= 0.5
        points = np.stack([(points[:, 0] + slant * points[:, 1]) * scale_x, points[:, 1] * scale_y], axis=1) + offset
        path = [tuple(p) for p in points]
        draw.line(path, fill=255, width=width, joint="curve")
        for x, y in (path[0], path[-1]):  # round pen ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return _ink_on_paper(glyph.filter(ImageFilter.GaussianBlur(0.7)), rng)


def _ink_on_paper(glyph: Image.Image, rng) -> Image.Image:
    """Dark ink (from pencil grey to black) where the glyph is, on light paper."""
    paper = np.asarray(_paper(rng), dtype=np.float64)
    ink = float(rng.integers(10, 110))
    coverage = np.asarray(glyph, dtype=np.float64) / 255.0
    return Image.fromarray(np.clip(paper * (1 - coverage) + ink * coverage, 0, 255).astype(np.uint8))


def noisy(image: Image.Image, rng) -> Image.Image:
    """Sensor noise: Gaussian, sigma 8 of 255."""
    pixels = np.asarray(image, dtype=np.float64) + rng.normal(0, 8, (SIZE, SIZE))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def faded(image: Image.Image, rng) -> Image.Image:
    """Uneven lighting: the paper darkens across the picture, in a random direction, by 60-110 levels."""
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    pixels = np.asarray(image, dtype=np.float64) - ramp * rng.uniform(60, 110)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def blurred(image: Image.Image, rng) -> Image.Image:
    """Out of focus: Gaussian blur of radius 2-3 px."""
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(2, 3))))


CONDITIONS = {
    "clean": (),
    "noise": (noisy,),
    "gradient": (faded,),
    "blur": (blurred,),
    "all three": (blurred, faded, noisy),
}
KINDS = {"font": font_digit, "drawn": drawn_digit}


def write_set(folder: Path, per_digit: int = 10, seed: int = 0) -> list[tuple[Path, int, str, str]]:
    """PNG files for every kind, condition and digit: (path, label, kind, condition)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, make in KINDS.items():
        for number in range(per_digit):
            for digit in range(10):
                clean = make(digit, rng)
                for condition, spoil in CONDITIONS.items():
                    image = clean
                    for step in spoil:
                        image = step(image, rng)
                    path = folder / f"{kind}-{condition.replace(' ', '_')}-{digit}-{number}.png"
                    image.save(path)
                    written.append((path, digit, kind, condition))
    return written


def measure(model, folder: Path, per_digit: int = 10, seed: int = 0) -> dict[tuple[str, str], dict]:
    """Classify the set with `model` (pipeline.serving.inference); per (kind, condition): how many
    pictures, the accuracy, the share flagged unreliable, the accuracy of the answers not flagged,
    and how many pictures `predict` refused (no digit found)."""
    written = write_set(folder, per_digit, seed)
    predictions, errors = model.classify_files([path for path, *_ in written])
    by_source = {p.source: p for p in predictions}
    results = {}
    for kind in KINDS:
        for condition in CONDITIONS:
            cases = [(by_source.get(str(path)), label) for path, label, k, c in written if (k, c) == (kind, condition)]
            answered = [(p, label) for p, label in cases if p is not None]
            trusted = [(p, label) for p, label in answered if p.unreliable is None]
            results[(kind, condition)] = {
                "pictures": len(cases),
                "accuracy": sum(p.digit == label for p, label in answered) / len(cases),
                "flagged": 1 - len(trusted) / len(cases),
                "accuracy_unflagged": (sum(p.digit == label for p, label in trusted) / len(trusted))
                if trusted else None,
                "refused": len(cases) - len(answered),
            }
    return results


def as_picture(digit: np.ndarray, index: int, rng, max_size: int, margin_divisor: int) -> tuple[Image.Image, str]:
    """An MNIST digit as the pictures people have, and the file suffix to save it with: scaled to
    40..max_size px with a margin of up to size/margin_divisor, in one of four styles by `index`:
    white on black, black ink on white paper, dark blue ink on cream paper (RGB), JPEG."""
    size = int(rng.integers(40, max_size))
    picture = np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC))
    picture = np.pad(picture, [tuple(rng.integers(0, size // margin_divisor, 2))] * 2)
    style = index % 4
    if style == 1:
        picture = 255 - picture
    elif style == 2:
        ink = picture[..., None] / 255.0
        picture = (np.array([250, 245, 225]) * (1 - ink) + np.array([20, 30, 120]) * ink).astype(np.uint8)
    return Image.fromarray(picture), ".jpg" if style == 3 else ".png"
