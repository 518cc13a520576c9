"""The HTML pages that the Airflow plugin (`pipeline.services.airflow_plugin`) serves inside Airflow's UI:
one component's results in one run, and plain messages for what is not there (yet).

Every value shown comes from a file or the metadata store and is escaped here, at the one place it
meets HTML. Light on purpose: no TensorFlow, no Airflow.
"""
from __future__ import annotations

import json
from typing import Any

from components import nodes
from pipeline.metadata.runs import ComponentRun, RunSummary, iso_time
from pipeline.orchestration.airflow_dag import PREPARE_TASK, REPORT_TASK
from pipeline.reports.html_parts import e as _e
from pipeline.reports.html_parts import gate_verdict, table

STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #f3f3f3; text-align: left; } td.uri { font-family: monospace; word-break: break-all; }
.ok { color: #2a7d2a; } .bad { color: #b00020; } .meta { color: #555; }
"""
LONG_PROPERTIES = 300  # characters of an artifact's properties shown in its table cell


def document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def message(title: str, text: str, hint: str = "") -> str:
    """A page that says what is missing or wrong, and what to do."""
    return document(title, f"<h1>{_e(title)}</h1>\n<p>{_e(text)}</p>" + (f"\n<p>{_e(hint)}</p>" if hint else ""))


def _artifacts(artifacts: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for key, items in artifacts.items():
        for item in items:
            properties = ", ".join(f"{k}={v}" for k, v in sorted(item["properties"].items()))
            if len(properties) > LONG_PROPERTIES:
                properties = properties[:LONG_PROPERTIES] + " ..."
            rows.append((key, item["type"], item["id"], item["uri"], properties))
    return table(("key", "type", "id", "URI", "properties"), rows, uri_column=3) if rows else "<p>None.</p>"


def anomalies_section(task_id: str, component: ComponentRun, validated: bool, rows) -> str:
    """ExampleValidator's or the data gate's findings: (found by, split, feature, kind, description)."""
    if not rows and component.state == "FAILED":
        return f'<p class="bad">{_e(task_id)} FAILED without recording anomalies: see the task\'s log.</p>'
    if not validated:
        return "<p>No anomalies files: the data was not validated by this task.</p>"
    if not rows:
        return '<p class="ok">No anomalies: the data meets the contract in schema/schema.pbtxt.</p>'
    return (f'<p class="bad">{len(rows)} anomal{"y" if len(rows) == 1 else "ies"}:</p>'
            + table(("split", "feature", "kind", "description"), [row[1:] for row in rows]))


def evaluation_section(summary: RunSummary, baseline: dict[str, Any] | None) -> str:
    """The model gate's verdict: accuracy overall and per digit, blessed or not, and why."""
    if summary.accuracy is None:
        return "<p>No accuracy recorded: the evaluation did not finish.</p>"
    parts = [gate_verdict(summary, baseline)]
    thresholds = {k: summary.config[k] for k in ("min_accuracy", "max_digit_drop") if k in summary.config}
    parts.append(f"<p>Accuracy on the eval split: <b>{summary.accuracy:.4f}</b>"
                 + (" (" + ", ".join(f"{_e(k)} {_e(v)}" for k, v in thresholds.items()) + ")" if thresholds else "")
                 + "</p>")
    parts.append(table(("digit", "accuracy"), [(d, f"{a:.4f}") for d, a in summary.accuracy_per_digit.items()]))
    return "".join(parts)


def push_section(summary: RunSummary) -> str:
    if summary.pushed:
        return f'<p class="ok">Pushed as version {_e(summary.pushed_version)} to {_e(summary.pushed_path)}.</p>'
    if summary.pushed is False:
        return "<p>Not pushed: the model was not blessed; the versions already serving stay as they were.</p>"
    return "<p>No push recorded.</p>"


def results_section(task_id: str, summary: RunSummary, component: ComponentRun | None,
                    anomalies: tuple[bool, list] | None, baseline: dict[str, Any] | None) -> str:
    """What the task found or decided, in words: anomalies, the model gate's verdict, the push."""
    if task_id == PREPARE_TASK:
        return run_record_section(summary)
    if task_id == REPORT_TASK:
        return "<p>Writes the run's report when every other task has ended, whatever their outcome.</p>"
    if component is None:
        return (f"<p>{_e(task_id)} has no execution in ML Metadata for this run: it has not run yet, a task "
                "before it failed, or it failed before TFX recorded it (see its log).</p>")
    if anomalies is not None:
        return "<h2>Anomalies</h2>" + anomalies_section(task_id, component, *anomalies)
    if task_id == nodes.EVALUATOR:
        return "<h2>Verdict</h2>" + evaluation_section(summary, baseline)
    if task_id == nodes.PUSHER:
        return "<h2>Push</h2>" + push_section(summary)
    return ""


def task_page(task_id: str, summary: RunSummary, component: ComponentRun | None,
              artifacts: dict[str, dict[str, list[dict[str, Any]]]], report_exists: bool,
              anomalies: tuple[bool, list] | None = None, baseline: dict[str, Any] | None = None) -> str:
    """One task of one run: its state and time, what it found or decided, and its artifacts.

    `artifacts` is {"inputs": {key: [artifact]}, "outputs": {...}}, each artifact as
    `pipeline.metadata.lineage.describe_artifact` describes it; `anomalies` is
    `pipeline.reports.anomalies.found_in_run` of this task alone (for the validators); `baseline` the
    Evaluator's baseline model, named by its run and serving version (`pipeline.metadata.lineage.model_origin`).
    """
    parts = [f"<h1>{_e(task_id)}</h1>",
             f'<p class="meta">run {_e(summary.run_id)} &middot; commit {_e(summary.git_commit or "unknown")}</p>']
    if component:
        state_class = {"COMPLETE": "ok", "CACHED": "ok", "FAILED": "bad"}.get(component.state, "")
        parts.append(f'<p><b class="{state_class}">{_e(component.state)}</b>'
                     + (" (taken from an earlier run: its inputs had not changed)"
                        if component.state == "CACHED" else "")
                     + f" &middot; started {_e(iso_time(component.started_ms) or '?')}, "
                     + ("its process died, its end is not known" if component.orphaned
                        else f"{component.seconds:.1f} s")
                     + f" &middot; ML Metadata execution {component.execution_id}</p>")
    parts.append(results_section(task_id, summary, component, anomalies, baseline))
    if component:
        parts.append(f"<h2>Inputs</h2>{_artifacts(artifacts.get('inputs', {}))}")
        parts.append(f"<h2>Outputs</h2>{_artifacts(artifacts.get('outputs', {}))}")
    parts.append('<p><a href="../report">The run\'s report</a></p>' if report_exists else
                 "<p>The run's report is not written yet: the DAG's last task, write_report, writes it.</p>")
    if task_id == nodes.PUSHER and summary.pushed and report_exists:
        parts.append(f'<p><a href="../model-card-{_e(summary.pushed_version)}.html">The model card of version '
                     f'{_e(summary.pushed_version)}</a>, written with the report</p>')
    return document(f"{task_id} in run {summary.run_id}", "\n".join(parts))


def run_record_section(summary: RunSummary) -> str:
    """What the first task recorded: the run's config and the code's commit."""
    config = json.dumps(summary.config, indent=1, sort_keys=True) if summary.config else "(not recorded)"
    return (f"<p>Recorded the run in ML Metadata, started {_e(iso_time(summary.started_ms) or '?')}, "
            f"with the code at commit {_e(summary.git_commit or 'unknown')} and this config:</p>"
            f"<pre>{_e(config)}</pre>")
