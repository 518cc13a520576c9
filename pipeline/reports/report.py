"""A static HTML report of one pipeline run, for people: no notebook, no server.

It shows the statistics of both splits with sample digits, the anomalies found, the evaluation
(accuracy overall and per digit, a confusion-matrix image, what the model gate decided) and the
training curves. Images are embedded, so the file can be mailed or attached to a ticket.
"""
from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from components import features, nodes
from pipeline.home import Home
from pipeline.metadata import approvals
from pipeline.metadata.lineage import model_origin
from pipeline.metadata.runs import summarize_run
from pipeline.metadata.store import open_store
from pipeline.reports.anomalies import found_in_run
from pipeline.reports.examples import read_examples as _examples
from pipeline.reports.html_parts import STYLE, gate_verdict, table
from pipeline.storage import files as stored

SAMPLES = 24  # digits shown per split
CONFUSION_EXAMPLES = 10000  # eval examples classified for the confusion matrix


def _png(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _digit_grid(images, labels) -> str:
    from PIL import Image, ImageDraw

    scale, columns = 2, 12
    rows = -(-len(images) // columns)
    grid = Image.new("L", (columns * 28 * scale, rows * (28 * scale + 14)), 255)
    draw = ImageDraw.Draw(grid)
    for index, (image, label) in enumerate(zip(images, labels)):
        x, y = (index % columns) * 28 * scale, (index // columns) * (28 * scale + 14)
        if image is not None:
            grid.paste(Image.fromarray(255 - image).resize((28 * scale, 28 * scale)), (x, y))
        draw.text((x + 22, y + 28 * scale + 1), str(label), fill=0)
    return _png(grid)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    matrix = np.zeros((10, 10), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def _confusion_image(matrix: np.ndarray) -> str:
    from PIL import Image, ImageDraw

    cell, margin = 44, 40
    size = margin + 10 * cell
    image = Image.new("RGB", (size, size + 20), "white")
    draw = ImageDraw.Draw(image)
    row_totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    for t in range(10):
        draw.text((margin // 2 - 3, margin + t * cell + cell // 2 - 6), str(t), fill="black")
        draw.text((margin + t * cell + cell // 2 - 3, margin // 2 - 6), str(t), fill="black")
        for p in range(10):
            share = matrix[t, p] / row_totals[t, 0]
            if t == p:
                colour = (int(255 - 155 * share), int(255 - 75 * share), int(255 - 155 * share))
            else:
                colour = (255, int(255 - 255 * min(1.0, share * 10)), int(255 - 255 * min(1.0, share * 10)))
            box = (margin + p * cell, margin + t * cell, margin + (p + 1) * cell - 1, margin + (t + 1) * cell - 1)
            draw.rectangle(box, fill=colour, outline=(220, 220, 220))
            if matrix[t, p]:
                draw.text((box[0] + 6, box[1] + cell // 2 - 6), str(matrix[t, p]), fill="black")
    draw.text((margin, size + 4), "rows: true digit, columns: predicted digit", fill="black")
    return _png(image)


def _curves_svg(history: dict) -> str:
    """Inline SVG line charts of the per-epoch training history."""
    charts = []
    accuracy = features.ACCURACY
    for title, keys in (("loss", ("loss", "val_loss")), (accuracy, (accuracy, f"val_{accuracy}"))):
        series = {k: history[k] for k in keys if history.get(k)}
        if not series:
            continue
        values = [v for s in series.values() for v in s]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        width, height, pad = 360, 200, 30
        epochs = max(len(s) for s in series.values())
        parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{title} per epoch">',
                 f'<text x="{pad}" y="16">{title} per epoch</text>',
                 f'<text x="2" y="{pad + 4}" font-size="10">{high:.4g}</text>',
                 f'<text x="2" y="{height - pad}" font-size="10">{low:.4g}</text>']
        for key, colour in zip(series, ("#1f77b4", "#d62728")):
            points = " ".join(
                f"{pad + (i * (width - 2 * pad) / max(epochs - 1, 1)):.1f},"
                f"{height - pad - (v - low) / span * (height - 2 * pad):.1f}" for i, v in enumerate(series[key]))
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
            parts.extend(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{colour}"/>'
                         for p in points.split())
            parts.append(f'<text x="{width - 110}" y="{30 + 14 * list(series).index(key)}" fill="{colour}" '
                         f'font-size="11">{key}</text>')
        parts.append("</svg>")
        charts.append("".join(parts))
    return "".join(charts) or "<p>No training history (the Trainer did not run).</p>"


def _statistics_section(summary) -> str:
    import tensorflow_data_validation as tfdv

    parts = []
    stats_gen = summary.components.get(nodes.STATISTICS_GEN)
    examples = summary.components.get(nodes.EXAMPLE_GEN)
    for split in features.SPLITS:
        parts.append(f"<h3>{split}</h3>")
        if stats_gen and stats_gen.outputs.get("statistics"):
            path = os.path.join(features.split_dir(stats_gen.outputs["statistics"][0].uri, split),
                                features.STATISTICS_FILE)
            with stored.local_copy(path) as local:
                dataset = tfdv.load_stats_binary(str(local)).datasets[0]
            rows = []
            for feature in dataset.features:
                kind = feature.WhichOneof("stats")
                stats = getattr(feature, kind)
                common = stats.common_stats
                detail = ""
                if kind == "num_stats":
                    detail = f"min {stats.min:g}, max {stats.max:g}, mean {stats.mean:.3f}"
                elif kind == "bytes_stats":
                    detail = f"{stats.min_num_bytes:.0f}-{stats.max_num_bytes:.0f} bytes"
                elif kind == "string_stats":
                    detail = "top: " + ", ".join(f"{v.value} ({v.frequency:.0f})" for v in stats.top_values[:10])
                rows.append((".".join(feature.path.step), kind.replace("_stats", ""),
                             f"{common.num_non_missing:.0f}", f"{common.num_missing:.0f}", detail))
            parts.append(f"<p>{dataset.num_examples} examples</p>")
            parts.append(table(("feature", "kind", "present", "missing", "values"), rows))
        if examples and examples.outputs.get("examples"):
            images, labels, _ = _examples(examples.outputs["examples"][0].uri, split, SAMPLES)
            if images:
                parts.append(f'<img class="digits" alt="sample {split} digits" src="{_digit_grid(images, labels)}">')
    return "".join(parts) or "<p>No statistics (StatisticsGen did not run).</p>"


def _anomalies_section(summary) -> str:
    validated, rows = found_in_run(summary.components)
    gate = summary.components.get(nodes.DATA_GATE)
    if gate and gate.state == "FAILED" and not rows:
        rows.append((nodes.DATA_GATE, "", "", "FAILED", "see the run log"))
    if not validated and not rows:
        return "<p>The data was not validated in this run.</p>"
    if not rows:
        return '<p class="ok">No anomalies: the data meets the contract in schema/schema.pbtxt.</p>'
    return table(("found by", "split", "feature", "kind", "description"), rows)


def _evaluation_section(home: Home, summary, baseline) -> str:
    if summary.accuracy is None:
        return "<p>No evaluation (the Evaluator did not run).</p>"
    parts = [f"<p>Accuracy on the eval split: <b>{summary.accuracy:.4f}</b></p>"]
    parts.append(table(("digit", "accuracy"), [(d, f"{a:.4f}") for d, a in summary.accuracy_per_digit.items()]))
    parts.append("<p>Model gate:</p>" + gate_verdict(summary, baseline))
    matrix = _confusion_for(home, summary)
    if matrix is not None:
        parts.append(f'<img id="confusion-matrix" alt="confusion matrix" src="{_confusion_image(matrix)}">')
    return "".join(parts)


def _confusion_for(home: Home, summary):
    """The run's model's confusion matrix on its eval split: classified once per model and
    examples (both MLMD artifacts, which never change), then read back."""
    import tensorflow as tf

    trainer, examples = summary.components.get(nodes.TRAINER), summary.components.get(nodes.EXAMPLE_GEN)
    if not (trainer and trainer.outputs.get("model") and examples and examples.outputs.get("examples")):
        return None
    model, eval_examples = trainer.outputs["model"][0], examples.outputs["examples"][0]
    computed = home.confusion_matrix(model.id, eval_examples.id)
    with contextlib.suppress(OSError, ValueError):  # not computed yet, or unreadable: compute it
        return np.array(json.loads(computed.read_text()), dtype=np.int64)
    model_dir = os.path.join(model.uri, "Format-Serving")
    if not stored.path(model_dir).is_dir():
        return None
    _, labels, serialized = _examples(eval_examples.uri, features.EVAL, CONFUSION_EXAMPLES)
    with stored.local_copy(model_dir) as local:
        serve = tf.saved_model.load(str(local)).signatures[features.SERVING_SIGNATURE]
        predicted = np.concatenate([serve(examples=tf.constant(serialized[i:i + 512]))["digit"].numpy()
                                    for i in range(0, len(serialized), 512)])
    matrix = confusion_matrix(labels, predicted)
    stored.write_atomic(computed, json.dumps(matrix.tolist()))
    return matrix


def _spans_section(summary) -> str:
    """The span this run ingested and the spans its model learnt from."""
    if summary.ingested is None:
        return "<p>Nothing was ingested.</p>"
    rows = [("ingested (statistics, validation, evaluation)", summary.ingested["span"],
             summary.ingested["examples_id"], summary.ingested["source"])]
    rows += [("trained on", s["span"], s["examples_id"], s["source"]) for s in summary.trained_on]
    return table(("role", "span", "examples id", "source"), rows)


def _training_section(summary) -> str:
    trainer = summary.components.get(nodes.TRAINER)
    if not (trainer and trainer.outputs.get("model_run")):
        return "<p>No training in this run.</p>"
    path = stored.path(trainer.outputs["model_run"][0].uri) / features.HISTORY_FILE
    if not path.exists():
        return "<p>No training history recorded.</p>"
    return _curves_svg(json.loads(path.read_text()))


def _tuning_section(summary) -> str:
    parts = []
    if summary.tuning is not None:
        if summary.tuning["trials"]:
            header, rows = summary.trial_table()
            parts.append(f"<p>{len(rows)} trials, scored by accuracy on a holdout of the training split; "
                         f"the winner (*), trial {summary.tuning['best_trial']}, went to the Trainer.</p>")
            parts.append(table(header, rows))
        else:
            parts.append("<p>Tuning off (tune_trials 0): the Trainer took the config's recipe.</p>")
    if summary.trained_with:
        parts.append("<p>The Trainer trained with:</p>" + table(("setting", "value"), summary.trained_with.items()))
    return "".join(parts) or "<p>No training in this run.</p>"




def _approval_section(decision) -> str:
    """Who approved or rejected the push (require_approval), when, and why; nothing when not asked."""
    return f"<h2>Approval</h2><p>{html.escape(approvals.describe(decision))}</p>" if decision else ""


def write_report(home: Home, run_id: str, output: Path | None = None) -> Path:
    """Write (or rewrite) the report of `run_id`, to `output` or its place in the home; returns its path."""
    store = open_store(home)
    summary = summarize_run(home, run_id, store)
    baseline = model_origin(store, summary.baseline_model_id) if summary.baseline_model_id else None
    states = [(c.node_id, c.state) for c in summary.components.values()]
    config = json.dumps(summary.config, indent=1, sort_keys=True) if summary.config else "(not recorded)"
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MNIST pipeline run {html.escape(run_id)}</title>
<style>{STYLE}</style></head><body>
<h1>MNIST pipeline run</h1>
<p>{html.escape(run_id)} &middot; commit {html.escape(summary.git_commit or "unknown")}</p>
{table(("component", "state"), states)}
<h2>Data: spans</h2>{_spans_section(summary)}
<h2>Data: statistics and samples</h2>{_statistics_section(summary)}
<h2>Anomalies</h2>{_anomalies_section(summary)}
<h2>Evaluation</h2>{_evaluation_section(home, summary, baseline)}
{_approval_section(approvals.decision_of(store, run_id))}
<h2>Tuning and training settings</h2>{_tuning_section(summary)}
<h2>Training curves</h2>{_training_section(summary)}
<h2>Config</h2><pre>{html.escape(config)}</pre>
</body></html>
"""
    path = stored.path(output) if output else home.report_file(run_id)
    card = _model_card(home, run_id, store, summary, output is None)
    body = body.replace("</body>", f'<h2>Model card</h2>{card}\n</body>', 1)
    if path.is_dir():
        path = path / "index.html"
    stored.write_atomic(path, body)
    return path


def _model_card(home: Home, run_id: str, store, summary, in_home: bool) -> str:
    """The pushed version's model card, written beside the report in the home (`model_card`)."""
    if not summary.pushed:
        return "<p>Nothing was pushed: no model card.</p>"
    if in_home:
        from pipeline.reports import model_card

        try:
            model_card.write_card(home, run_id, store)
        except (OSError, ValueError, LookupError) as err:  # the report is still worth having
            logging.getLogger(__name__).warning("the model card of run %s could not be written: %s", run_id, err)
            return f"<p class=\"bad\">The model card could not be written: {html.escape(str(err))}</p>"
    card = home.model_card(run_id, summary.pushed_version)
    if not card.is_file():
        return "<p>No model card written.</p>"
    href = card.name if in_home else card.as_uri()
    return f'<p><a id="model-card" href="{href}">model card of version {summary.pushed_version}</a></p>'
