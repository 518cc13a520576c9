"""A model card for each pushed version: a static HTML page next to its run's report
(`Home.model_card`), in the report's style.

It says what the model is for and not for, the data it learnt from (spans, counts, sources), its
accuracy overall and per digit on the eval split (the Evaluator's numbers, as `show` gives them),
how its answers degrade under sensor noise and uneven light, measured when the card is written on
pictures made from the eval digits, its lineage (run, commit, config), and its serving labels
with their history. What needs TensorFlow is measured once and kept beside the card as JSON
(`model-card-<version>.json`); a label change re-renders the page from it without TensorFlow.

TFX's Model Card Toolkit is not used: see docs/serving.md#model-cards for why.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from components import features, nodes
from pipeline.home import Home
from pipeline.reports.html_parts import STYLE, e, table
from pipeline.serving.inference import MIN_CONFIDENCE
from pipeline.storage import files as stored

PICTURES = 200  # eval digits turned into pictures, per condition
PICTURE_SIZE = 112
# condition -> (Gaussian sensor noise sigma, of 255; range of the paper's darkening across the
# picture, in grey levels): mild as a phone's photo of paper, then harsher, to see where it breaks.
CONDITIONS = {
    "clean": (0, (0, 0)),
    "noise, sigma 8": (8, (0, 0)),
    "noise, sigma 32": (32, (0, 0)),
    "uneven light, 60-110 levels": (0, (60, 110)),
    "uneven light, 130-170 levels": (0, (130, 170)),
    "both, sigma 32 and 130-170 levels": (32, (130, 170)),
}

INTENDED = ("Reading single handwritten digits, 0-9, one per picture: scanned forms, photographed notes, "
            f"MNIST-like 28x28 arrays. Answers below {MIN_CONFIDENCE} confidence (calibrated on held-out digits), "
            "or on pictures unlike MNIST, are flagged unreliable (docs/serving.md).")
NOT_INTENDED = ("Not for several digits or letters in one picture, for decisions about people without a human "
                "check, for handwriting styles far from MNIST's (its writers were US Census staff and students), "
                "or for photographs with perspective, sharp shadows or ruled lines as dark as the ink.")


def _picture(digit: np.ndarray, condition: str, rng) -> np.ndarray:
    """An MNIST digit (light on black, 28x28) as a picture: dark ink on light paper, 112x112,
    with the condition's Gaussian sensor noise and paper darkening across it (`CONDITIONS`)."""
    from PIL import Image

    big = np.asarray(Image.fromarray(digit).resize((PICTURE_SIZE, PICTURE_SIZE), Image.Resampling.BICUBIC),
                     dtype=np.float64)
    picture = 235.0 - big * (200.0 / 255.0)
    sigma, (darkest, darker) = CONDITIONS[condition]
    if darker:
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:PICTURE_SIZE, 0:PICTURE_SIZE] / (PICTURE_SIZE - 1)
        ramp = np.cos(angle) * xs + np.sin(angle) * ys
        picture = picture - (ramp - ramp.min()) / (ramp.max() - ramp.min()) * rng.uniform(darkest, darker)
    if sigma:
        picture = picture + rng.normal(0, sigma, picture.shape)
    return np.clip(picture, 0, 255)


def degradation(model_dir: str, digits: list, labels: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """Per condition: pictures, accuracy (a refused picture counts as wrong), share flagged
    unreliable, and accuracy of the answers not flagged."""
    from pipeline.serving.inference import LocalModel

    with stored.local_copy(model_dir) as local:
        model = LocalModel(str(local))
        return _degradation(model, digits, labels, seed)


def _degradation(model, digits: list, labels: np.ndarray, seed: int) -> list[dict[str, Any]]:
    from pipeline.serving import imaging

    rng = np.random.default_rng(seed)
    rows = []
    for condition in CONDITIONS:
        converted, truth, refused = [], [], 0
        for digit, label in zip(digits, labels):
            try:
                converted.append(imaging.mnist_digit(_picture(digit, condition, rng), "picture"))
                truth.append(int(label))
            except imaging.ImageError:
                refused += 1
        predictions = model.classify(np.stack(converted)) if converted else []
        right = [p.digit == t for p, t in zip(predictions, truth)]
        trusted = [r for p, r in zip(predictions, right) if p.unreliable is None]
        total = len(digits)
        rows.append({"condition": condition, "pictures": total, "refused": refused,
                     "accuracy": sum(right) / total if total else None,
                     "flagged": 1 - len(trusted) / total if total else None,
                     "accuracy_unflagged": sum(trusted) / len(trusted) if trusted else None})
    return rows


def measure(home: Home, run_id: str, store) -> dict[str, Any] | None:
    """Everything the card says that does not change (None when the run pushed nothing)."""
    from pipeline.metadata.runs import summarize_run

    summary = summarize_run(home, run_id, store)
    if not (summary.pushed and summary.pushed_version and summary.pushed_path):
        return None
    earlier = _measured_before(home, summary.pushed_version, summary.pushed_path)
    if earlier:
        spans, eval_count, robustness = earlier["trained_on"], earlier["eval_examples"], earlier["robustness"]
    else:
        spans, eval_count, robustness = _measure_model(summary, store)
    return {"version": int(summary.pushed_version), "run_id": run_id, "pushed_path": summary.pushed_path,
            "git_commit": summary.git_commit, "config": summary.config, "trained_with": summary.trained_with,
            "accuracy": summary.accuracy, "accuracy_per_digit": summary.accuracy_per_digit,
            "blessed": summary.blessed, "ingested": summary.ingested, "eval_examples": eval_count,
            "trained_on": spans, "robustness": robustness}


def _measured_before(home: Home, version, pushed_path: str) -> dict[str, Any] | None:
    """What an earlier run's card measured of the same pushed model, if any: an unchanged re-run
    pushes nothing new (its Pusher is CACHED), and the model, its training spans and its evaluation
    data are those of the run that pushed it, so they are not measured again (about 6 s)."""
    for facts_file in sorted(home.reports.glob(f"*/model-card-{version}.json")):
        facts = json.loads(facts_file.read_text())
        if facts.get("pushed_path") == pushed_path and "robustness" in facts:
            return facts
    return None


def _measure_model(summary, store) -> tuple[list, int | None, list]:
    """The pushed model's training spans (with their sizes), the evaluation split's size, and its
    accuracy on degraded pictures."""
    from pipeline.reports.examples import count_examples, read_examples

    spans = []
    for span in summary.trained_on:
        [artifact] = store.get_artifacts_by_id([span["examples_id"]])
        spans.append({**span, "train_examples": count_examples(artifact.uri, features.TRAIN)})
    example_gen = summary.components.get(nodes.EXAMPLE_GEN)
    robustness, eval_count = [], None
    if example_gen and example_gen.outputs.get("examples"):
        uri = example_gen.outputs["examples"][0].uri
        eval_count = count_examples(uri, features.EVAL)
        images, labels, _ = read_examples(uri, features.EVAL, PICTURES)
        kept = [(i, label) for i, label in zip(images, labels) if i is not None]
        robustness = degradation(summary.pushed_path, [i for i, _ in kept], np.array([lb for _, lb in kept]))
    return spans, eval_count, robustness


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def render(facts: dict[str, Any], labels: list[str], changes: list[dict[str, Any]]) -> str:
    version = facts["version"]
    accuracy = "-" if facts["accuracy"] is None else f"{facts['accuracy']:.4f}"
    spans = table(("span", "source", "data set", "train examples", "examples id"),
                  [(s["span"], s["source"], s["data_set"], s["train_examples"], s["examples_id"])
                   for s in facts["trained_on"]])
    ingested = facts["ingested"] or {}
    per_digit = table(("digit", "accuracy"), [(d, f"{a:.4f}") for d, a in facts["accuracy_per_digit"].items()])
    robustness = table(("pictures", "condition", "accuracy", "flagged unreliable", "accuracy of those not flagged",
                        "refused (no digit found)"),
                       [(r["pictures"], r["condition"], _percent(r["accuracy"]), _percent(r["flagged"]),
                         _percent(r["accuracy_unflagged"]), r["refused"]) for r in facts["robustness"]])
    history = table(("when", "action", "label", "version", "before", "by", "command"),
                    [(c["at"], c["action"], c["label"] or "-", c["version"], c["previous"] or "-", c["user"],
                      c["command"]) for c in changes])
    config = json.dumps(facts["config"], indent=1, sort_keys=True)
    pictures = facts["robustness"][0]["pictures"] if facts["robustness"] else 0
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {e(version)}</title>
<style>{STYLE}</style></head><body>
<h1>Model card: MNIST digits, version {e(version)}</h1>
<p>Pushed to {e(facts["pushed_path"])} by run {e(facts["run_id"])} &middot;
<a href="index.html">the run's report</a></p>
<h2>Intended use</h2><p>{e(INTENDED)}</p>
<h2>Not intended for</h2><p>{e(NOT_INTENDED)}</p>
<h2>Data</h2>
<p>Learnt from {len(facts["trained_on"])} span(s); evaluated on span {e(ingested.get("span"))}'s eval split
(<span id="eval-examples">{e(facts["eval_examples"])}</span> examples, source {e(ingested.get("source"))}).</p>
{spans}
<h2>Accuracy on the eval split</h2>
<p>Overall: <b id="accuracy">{e(accuracy)}</b> (the Evaluator's, as <code>show</code> reports it)</p>
<div id="accuracy-per-digit">{per_digit}</div>
<h2>Noise and uneven light</h2>
<p>Measured when this card was written, on pictures made from the first {e(pictures)} eval digits: dark ink on light
paper, {PICTURE_SIZE}x{PICTURE_SIZE} px, with Gaussian sensor noise (sigma of 255) and the paper
darkening across the picture in a random direction (grey levels), each converted as <code>predict</code>
converts pictures.</p>
<div id="robustness">{robustness}</div>
<h2>Lineage</h2>
<p>Run {e(facts["run_id"])}, commit {e(facts["git_commit"] or "unknown")}.
<code>mnist-pipeline lineage {e(version)}</code> walks it back to the data.</p>
<pre>{html.escape(config)}</pre>
<h2>Serving labels</h2>
<p id="labels">{e(", ".join(labels) or "none")}</p>
{history if changes else "<p>No label change recorded.</p>"}
</body></html>
"""


def _write(path: Path, text: str) -> None:
    stored.write_atomic(path, text)


def _page(served, store, facts: dict[str, Any]) -> None:
    from pipeline.metadata import serving_changes

    version = facts["version"]
    labels = sorted(k for k, v in served.labels().items() if v == version)
    pushed = serving_changes.pushed_models(store, served.name).get(version)
    changes = [c.to_dict() for c in serving_changes.changes_of(store, pushed.id)] if pushed else []
    _write(served.home.model_card(facts["run_id"], version), render(facts, labels, changes))


def write_card(home: Home, run_id: str, store) -> Path | None:
    """Measure and write the card of the version `run_id` pushed; None if it pushed none."""
    from pipeline.config import load_config
    from pipeline.serving.registry import Served

    facts = measure(home, run_id, store)
    if facts is None:
        return None
    path = home.model_card(run_id, facts["version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path.with_suffix(".json"), json.dumps(facts, indent=1))
    served = Served(home, load_config(overrides=facts["config"], home=home))
    _page(served, store, facts)
    return path


def refresh_labels(served, store) -> list[Path]:
    """Re-render every card of the served model with its current labels and history."""
    written = []
    for facts_file in sorted(served.home.reports.glob("*/model-card-*.json")):
        facts = json.loads(facts_file.read_text())
        if str(stored.path(facts["pushed_path"]).parent) == str(served.folder):
            _page(served, store, facts)
            written.append(facts_file.with_suffix(".html"))
    return written
