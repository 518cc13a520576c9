"""The words of a run's verdict and evaluation, shared by `show`, the report and the UI.
"""
from __future__ import annotations

from typing import Any

from pipeline.metadata.runs import RunSummary


def verdict(summary: RunSummary, baseline: dict[str, Any] | None) -> str:
    """The model gate's decision in one sentence, naming the baseline as a person knows it
    (`model_origin`): the one wording of `show`, the report and the Airflow UI."""
    if baseline:
        version = f"version {baseline['pushed_version']}" if baseline["pushed_version"] else "a model never pushed"
        against = f"the baseline, {version} from run {baseline['run_id']} (model {baseline['model_id']})"
    else:
        against = "no baseline (no earlier blessed model)"
    minimum = summary.config.get("min_accuracy", "?")
    if summary.blessed:
        rule = (f"accuracy >= min_accuracy {minimum}, not below {against} overall, and no digit worse beyond "
                f"chance" if baseline else f"accuracy >= min_accuracy {minimum}; {against}")
        return f"blessed: {rule}"
    return f"NOT blessed, against {against}:"


def evaluation_lines(summary: RunSummary, baseline: dict[str, Any] | None) -> list[str]:
    """The evaluation in plain text, as `run` ends and `show` prints it: accuracy overall and per
    digit, the verdict, the thresholds that failed and the digit drops that chance allowed."""
    if summary.accuracy is None:
        return []
    lines = [f"accuracy   {summary.accuracy:.4f} on the eval split"]
    if summary.accuracy_per_digit:
        lines.append("per digit  " + "  ".join(f"{d}: {a:.4f}" for d, a in summary.accuracy_per_digit.items()))
    if summary.blessed is not None:
        lines.append(verdict(summary, baseline))
        lines += [f"  failed: {failure}" for failure in summary.gate_failures]
        lines += [f"  allowed: {drop}" for drop in summary.drops_within_chance]
    return lines

