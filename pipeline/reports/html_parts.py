"""HTML pieces that the run's report (pipeline/reports/report.py) and the Airflow UI's pages
(pipeline/services/airflow_pages.py) share, so both say the same thing the same way."""
from __future__ import annotations

import html
from typing import Any

from pipeline.metadata.runs import RunSummary
from pipeline.reports.text import verdict

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #f3f3f3; } .ok { color: #2a7d2a; } .bad { color: #b00020; } img.digits { display: block; }
"""


def e(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value))


def table(headers, rows, uri_column: int | None = None) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="uri">{e(c)}</td>' if i == uri_column else f"<td>{e(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gate_verdict(summary: RunSummary, baseline: dict[str, Any] | None) -> str:
    """The model gate's verdict (`verdict`, as `show` prints it) in HTML, with the
    thresholds that failed and the per-digit drops allowed as chance."""
    if summary.blessed is None:
        return "<p>No verdict recorded.</p>"
    lists = "".join(f"<ul>{''.join(f'<li>{e(label)}: {e(item)}</li>' for item in items)}</ul>"
                    for label, items in (("failed", summary.gate_failures), ("allowed", summary.drops_within_chance))
                    if items)
    return f'<p class="{"ok" if summary.blessed else "bad"}"><b>{e(verdict(summary, baseline))}</b></p>{lists}'
