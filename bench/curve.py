"""Accuracy against training time: named training configs, each trained by bare Keras
(components/training.py's `train`, as the Trainer trains) on the 60,000 training images with
three seeds, and scored on the official 10,000 test images.

Writes bench/results/<date>-curve.json and draws the curve as docs/curve.svg (with `--quick`:
bench/results/<date>-curve-quick.json and .svg beside it, 2,000/500 images, one epoch, one seed:
a check that it runs, not figures to quote). A full run also trains each config and seed for one
epoch on the quick slice (the first 3,000 training and 1,000 test images, as the pipeline's
`--set train_examples=3000 --set eval_examples=1000 --set epochs=1` takes them), on which the
tests' short runs rely. The configs run seed by seed, each seed's configs
back to back, so that a busy spell on the machine does not fall on one config alone.

    python bench/curve.py [--quick] [--configs 2026-11-default default fast ...] [--seeds 42 43 44]

Per config: multiply-adds per image (`components.model.multiply_adds`), training seconds per seed
(the whole `train` call: building, fitting, BatchNorm recalibration) and their median, the
accuracy per seed and its median, and GFLOP/s counted as forward and backward: 3 x 2 x
multiply-adds per image x images x epochs / seconds (the backward pass costs about twice the
forward one).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402, F401  (the legacy-Keras switch, before TensorFlow)
from bench.run import machine  # noqa: E402
from components.recipe import PRESETS, Recipe  # noqa: E402

# Config name -> the recipe's values that differ from today's default (components/recipe.py).
# The default from issue 30's first change until 2026-12-07T1449: 9 epochs of 64 at peak rate 0.008,
# no weight averaging, dropout 0.3. The configs measured against it keep its values beneath their own.
DEFAULT_9_BY_64 = {"epochs": 9, "batch_size": 64, "learning_rate": 0.008, "weight_averaging": 0.0, "dropout": 0.3}
CONFIGS: dict[str, dict[str, Any]] = {
    # The default until issue 30 (2026-12-07), kept here so that it can be measured again: two
    # stages of two convolutions (32, then 64 filters), pooled at each stage's end, 3 epochs of 64,
    # shifts of up to 1.5 px.
    "2026-11-default": {"stages": 2, "convs_per_stage": 2, "pool_before_norm": False, "epochs": 3, "batch_size": 64,
                        "learning_rate": 0.006, "max_shift": 1.5, "max_rotation": 0.0, "max_scale": 0.0,
                        "label_smoothing": 0.0, "weight_averaging": 0.0, "dropout": 0.3},
    "default": {},
    **{name: values for name, values in PRESETS.items()},
    "9-epochs-batch-64": DEFAULT_9_BY_64,
    # More points on the 9-epoch default's curve: `4-epochs` was `preset: fast` until 2026-12-07T1204.
    "4-epochs": {**DEFAULT_9_BY_64, "epochs": 4},
    "2-epochs": {**DEFAULT_9_BY_64, "epochs": 2},
    # 4 epochs (`fast` until 2026-12-07) without label smoothing: does smoothing earn its place (it
    # makes the raw confidence low, components/calibration.py, and is the first suspect for the
    # reused extractor's drop)?
    "fast-no-smoothing": {**DEFAULT_9_BY_64, "epochs": 4, "label_smoothing": 0.0},
    # Candidates for a default within the old default's time and a preset within half of it.
    "default-no-smoothing": {**DEFAULT_9_BY_64, "label_smoothing": 0.0},
    "5-epochs-no-smoothing": {**DEFAULT_9_BY_64, "epochs": 5, "label_smoothing": 0.0},
    "3-epochs-no-smoothing": {**DEFAULT_9_BY_64, "epochs": 3, "label_smoothing": 0.0},
    # Narrower models (2026-12-07, after tf.data's autotuning was switched off): 16 filters first
    # cost about half of the default's time per image (0.21 against 0.43 ms, float32, batch 64),
    # but 6 epochs of them scored 99.43 % median (T0948, where they ran as `fast`): not kept.
    # 24 filters took 0.83 of the default's time for 0.57 of its multiply-adds.
    "16-filters": {**DEFAULT_9_BY_64, "conv_filters": 16},
    "16-filters-6-epochs": {**DEFAULT_9_BY_64, "conv_filters": 16, "epochs": 6},
    "16-filters-4-epochs": {**DEFAULT_9_BY_64, "conv_filters": 16, "epochs": 4},
    "24-filters": {**DEFAULT_9_BY_64, "conv_filters": 24},
    # After each stage's pooling moved before its last normalisation and ReLU (12 % less time a
    # step): fewer epochs, as candidates for the default within the old default's time and for a
    # preset within half of it.
    "6-epochs": {**DEFAULT_9_BY_64, "epochs": 6},
    "3-epochs": {**DEFAULT_9_BY_64, "epochs": 3},
    "3-epochs-batch-128": {**DEFAULT_9_BY_64, "epochs": 3, "batch_size": 128, "learning_rate": 0.011},  # = fast
    # Weight averaging (an exponential moving average of the weights, momentum 0.999: about the
    # last 1,000 steps) and batches of 128 (6-10 % less time an image than 64), for the default
    # within the old default's time. `7-epochs-batch-128-averaged` was the default from T1449 until
    # the dropout went from 0.3 to 0.1 (the quick slice's one epoch lost 0.012 to it, mean of 7 seeds).
    "6-epochs-averaged": {**DEFAULT_9_BY_64, "epochs": 6, "weight_averaging": 0.999},
    "7-epochs-batch-128": {**DEFAULT_9_BY_64, "epochs": 7, "batch_size": 128, "learning_rate": 0.011},
    "7-epochs-batch-128-averaged": {**DEFAULT_9_BY_64, "epochs": 7, "batch_size": 128, "learning_rate": 0.011,
                                    "weight_averaging": 0.999},
}
SEEDS = (42, 43, 44)
# The goals: the default at no more than the old default's time, the preset at half of it.
OLD, DEFAULT, FAST = "2026-11-default", "default", "fast"
GOALS = {"default_accuracy_median": ">= 0.996", "default_accuracy_min": ">= 0.995",
         "default_vs_old_seconds": "<= 1.0", "fast_accuracy_median": ">= 0.995", "fast_vs_old_seconds": "<= 0.5",
         "default_slice_accuracy_median": ">= 0.95"}
QUICK = {"train_examples": 2000, "eval_examples": 500, "epochs": 1, "seeds": (42,)}
SLICE = {"train_examples": 3000, "eval_examples": 1000, "epochs": 1}


def recipe_of(name: str, seed: int, epochs: int | None = None) -> Recipe:
    """The config's recipe, computing in float32 (this benchmark compares configs, not precisions)."""
    values = {**CONFIGS[name], "seed": seed, "precision": "float32"}
    if epochs:
        values["epochs"] = epochs
    return dataclasses.replace(Recipe(), **values)


def load(train_examples: int = 0, eval_examples: int = 0):
    from pipeline.data.sources import load_bundled

    splits = load_bundled()
    train, test = splits["train"], splits["eval"]
    if train_examples:
        train, test = train.head(train_examples), test.head(eval_examples)
    return ((train.images[..., None].astype("float32") / 255.0, train.labels),
            (test.images[..., None].astype("float32") / 255.0, test.labels))


def measure(names: list[str], seeds, train, test, epochs: int | None = None, quick_slice=None) -> dict[str, dict]:
    """Each config trained with each seed on `train` and scored on `test`; with `quick_slice`
    ((train, test) arrays), also trained one epoch on its train and scored on its test."""
    from components import model as model_lib
    from components import training

    figures: dict[str, dict] = {}
    for name in names:
        recipe = recipe_of(name, seeds[0], epochs)
        figures[name] = {"recipe": CONFIGS[name], "settings": {**recipe.to_custom_config(), "seed": None},
                         "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                         "multiply_adds": model_lib.multiply_adds(model_lib.build_model(**recipe.architecture())),
                         "seconds": {}, "accuracy": {}, **({"slice_accuracy": {}} if quick_slice else {})}
    for seed in seeds:
        for name in names:
            recipe = recipe_of(name, seed, epochs)
            started = time.perf_counter()
            model, _ = training.train(recipe, train)
            seconds = time.perf_counter() - started
            accuracy = training.accuracy(model, *test)
            figures[name]["seconds"][seed], figures[name]["accuracy"][seed] = round(seconds, 1), accuracy
            print(f"{name:>16}  seed {seed}  {accuracy:.4f}  {seconds:6.1f} s", flush=True)
            if quick_slice:
                model, _ = training.train(recipe_of(name, seed, SLICE["epochs"]), quick_slice[0])
                figures[name]["slice_accuracy"][seed] = training.accuracy(model, *quick_slice[1])
                print(f"{name:>16}  seed {seed}  {figures[name]['slice_accuracy'][seed]:.4f} on the quick slice",
                      flush=True)
    images = len(train[1])
    for entry in figures.values():
        entry["seconds_median"] = statistics.median(entry["seconds"].values())
        entry["accuracy_median"] = statistics.median(entry["accuracy"].values())
        entry["accuracy_min"] = min(entry["accuracy"].values())
        if quick_slice:
            entry["slice_accuracy_median"] = statistics.median(entry["slice_accuracy"].values())
        entry["gflops_forward_backward"] = round(
            3 * 2 * entry["multiply_adds"] * images * entry["epochs"] / entry["seconds_median"] / 1e9, 1)
    return figures


def goals(figures: dict[str, dict]) -> dict[str, dict]:
    """Each goal of GOALS with its measured value and whether it is met (those whose configs ran)."""
    measured: dict[str, float] = {}
    if DEFAULT in figures:
        measured["default_accuracy_median"] = figures[DEFAULT]["accuracy_median"]
        measured["default_accuracy_min"] = figures[DEFAULT]["accuracy_min"]
        if "slice_accuracy_median" in figures[DEFAULT]:
            measured["default_slice_accuracy_median"] = figures[DEFAULT]["slice_accuracy_median"]
    if FAST in figures:
        measured["fast_accuracy_median"] = figures[FAST]["accuracy_median"]
    if OLD in figures:
        for name in (DEFAULT, FAST):
            if name in figures:
                measured[f"{name}_vs_old_seconds"] = round(
                    figures[name]["seconds_median"] / figures[OLD]["seconds_median"], 3)
    found = {}
    for key, value in measured.items():
        operator, bound = GOALS[key].split()
        met = value >= float(bound) if operator == ">=" else value <= float(bound)
        found[key] = {"value": value, "goal": GOALS[key], "met": met}
    return found


def svg(figures: dict[str, dict], title: str) -> str:
    """The curve: accuracy (%) against median training seconds, every seed a small dot, each
    config's median a large one with its name; dashed, the goals' lines."""
    width, height, left, right, top, bottom = 720, 440, 70, 30, 40, 55
    seconds = [s for entry in figures.values() for s in entry["seconds"].values()]
    accuracies = [100 * a for entry in figures.values() for a in entry["accuracy"].values()]
    x_max = max(seconds) * 1.1
    y_low, y_high = min([*accuracies, 99.4]) - 0.05, max([*accuracies, 99.7]) + 0.05

    def x(value: float) -> float:
        return left + (width - left - right) * value / x_max

    def y(value: float) -> float:
        return top + (height - top - bottom) * (y_high - value) / (y_high - y_low)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">training seconds (median of the seeds)'
             f'</text>',
             f'<text x="18" y="{height / 2}" text-anchor="middle" transform="rotate(-90 18 {height / 2})">'
             f'accuracy on the 10,000 test images (%)</text>']
    step = _tick_step(x_max)
    for tick in range(0, int(x_max) + 1, step):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{tick}</text>')
    y_step = 0.1 if y_high - y_low < 1.5 else 1.0  # a quick run's accuracies span points, a full run's tenths
    tick_value = round(y_low, 1) if y_step < 1 else float(int(y_low))
    while tick_value <= y_high:
        if tick_value >= y_low:
            parts.append(f'<line x1="{left}" y1="{y(tick_value):.1f}" x2="{width - right}" y2="{y(tick_value):.1f}" '
                         f'stroke="#eee"/>')
            parts.append(f'<text x="{left - 6}" y="{y(tick_value) + 4:.1f}" text-anchor="end">{tick_value:.1f}</text>')
        tick_value = round(tick_value + y_step, 1)
    for level, label in ((99.6, "default's goal 99.6"), (99.5, "fast's goal 99.5")):
        parts.append(f'<line x1="{left}" y1="{y(level):.1f}" x2="{width - right}" y2="{y(level):.1f}" '
                     f'stroke="#c60" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{width - right - 4}" y="{y(level) - 4:.1f}" text-anchor="end" fill="#c60">'
                     f'{label}</text>')
    if OLD in figures:
        old = figures[OLD]["seconds_median"]
        for share, label in ((1.0, "old default's time"), (0.5, "half of it")):
            parts.append(f'<line x1="{x(share * old):.1f}" y1="{top}" x2="{x(share * old):.1f}" '
                         f'y2="{height - bottom}" stroke="#06c" stroke-dasharray="4 3"/>')
            parts.append(f'<text {_beside(x(share * old), 4, width)} y="{top + 12}" fill="#06c">{label}</text>')
    new = sorted((entry["seconds_median"], 100 * entry["accuracy_median"])
                 for name, entry in figures.items() if name != OLD)
    if len(new) > 1:  # the new model's configs, joined in order of time: the curve itself
        points = " ".join(f"{x(s):.1f},{y(a):.1f}" for s, a in new)
        parts.append(f'<polyline points="{points}" fill="none" stroke="#888"/>')
    labels: list[tuple[float, float, float]] = []  # each config's label placed so far: left, right, baseline
    for name, entry in figures.items():
        colour = "#c00" if name == OLD else "#000"
        for seed, accuracy in entry["accuracy"].items():
            parts.append(f'<circle cx="{x(entry["seconds"][seed]):.1f}" cy="{y(100 * accuracy):.1f}" r="2.5" '
                         f'fill="{colour}" fill-opacity="0.35"/>')
        cx, cy = x(entry["seconds_median"]), y(100 * entry["accuracy_median"])
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{colour}"/>')
        label = f'{name} ({entry["multiply_adds"] / 1e6:.1f} M, {entry["epochs"]} ep)'
        placed = _beside(cx, 8, width)
        length = LABEL_EM * len(label)
        span = (cx - 8 - length, cx - 8) if _left_of(cx, width) else (cx + 8, cx + 8 + length)
        baseline = _free_baseline(labels, *span, cy + 4)
        labels.append((*span, baseline))
        parts.append(f'<text {placed} y="{baseline:.1f}" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


LABEL_EM, LABEL_LINE = 6.6, 14.0  # a label character's width and a line's height at font-size 12, in px


def _free_baseline(placed: list[tuple[float, float, float]], left: float, right: float, baseline: float) -> float:
    """`baseline`, or the nearest line above or below it where a label spanning left..right overlaps
    none of those `placed`: two configs of about the same time and accuracy keep readable names."""
    for lines in (0, -1, 1, -2, 2, -3, 3):
        candidate = baseline + lines * LABEL_LINE
        if not any(left < other_right and other_left < right and abs(candidate - other) < LABEL_LINE
                   for other_left, other_right, other in placed):
            return candidate
    return baseline  # crowded: overlap rather than wander from the point


def _left_of(x: float, width: float) -> bool:
    """Whether a label at `x` goes to its left: in the right-hand part of the picture."""
    return x > width - 220


def _beside(x: float, gap: float, width: float) -> str:
    """A label's x and anchor: right of `x`, or left of it in the right-hand part of the picture."""
    if _left_of(x, width):
        return f'x="{x - gap:.1f}" text-anchor="end"'
    return f'x="{x + gap:.1f}"'


def _tick_step(span: float) -> int:
    for step in (10, 20, 50, 100, 200, 500, 1000, 2000):
        if span / step <= 10:
            return step
    return 5000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000/500 images, one epoch, one seed: a check that it runs")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), metavar="NAME",
                        help=f"which configs, of {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="default 42 43 44 (42 with --quick)")
    args = parser.parse_args(argv)
    seeds = tuple(args.seeds or (QUICK["seeds"] if args.quick else SEEDS))
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M")
    if args.quick:
        train, test = load(QUICK["train_examples"], QUICK["eval_examples"])
        figures = measure(args.configs, seeds, train, test, QUICK["epochs"])
    else:
        train, test = load()
        quick_slice = load(SLICE["train_examples"], SLICE["eval_examples"])
        figures = measure(args.configs, seeds, train, test, quick_slice=quick_slice)
    results = {"date": stamp, "mode": "quick" if args.quick else "full", "machine": machine(),
               "train_examples": len(train[1]), "eval_examples": len(test[1]), "seeds": list(seeds),
               "gflops_counted": "forward and backward, 3 x 2 x multiply-adds x images x epochs / seconds",
               "configs": figures, "goals": goals(figures)}
    results_dir = ROOT / "bench" / "results"
    name = f"{stamp}-curve-quick" if args.quick else f"{stamp}-curve"
    (results_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    picture = results_dir / f"{name}.svg" if args.quick else ROOT / "docs" / "curve.svg"
    picture.write_text(svg(figures, f"Accuracy against training time, {stamp} "
                                    f"({len(train[1]):,} training images, seeds {', '.join(map(str, seeds))})"))
    print(f"\n{'config':>16} {'M MACs':>7} {'epochs':>6} {'seconds':>8} {'GFLOP/s':>8} {'median':>7}  per seed")
    for config, entry in figures.items():
        per_seed = " ".join(f"{a:.4f}" for a in entry["accuracy"].values())
        if "slice_accuracy" in entry:
            per_seed += "  quick slice " + " ".join(f"{a:.4f}" for a in entry["slice_accuracy"].values())
        print(f"{config:>16} {entry['multiply_adds'] / 1e6:7.2f} {entry['epochs']:6d} {entry['seconds_median']:8.1f} "
              f"{entry['gflops_forward_backward']:8.1f} {entry['accuracy_median']:7.4f}  {per_seed}")
    for key, goal in results["goals"].items():
        print(f"{key}: {goal['value']} (goal {goal['goal']}): {'met' if goal['met'] else 'MISSED'}")
    print(f"wrote {results_dir / (name + '.json')} and {picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
