"""A person's decision on a blessed model before it is pushed: recorded on the run's
`pipeline_run` context in MLMD (who, when, with what comment), read by `show`, `runs` and the report.

The decision is taken in Airflow (pipeline/orchestration/approval.py); this module only stores and
reads it, and says it in words.
"""
from __future__ import annotations

import json
from typing import Any

from components.nodes import REFUSED_PROPERTY
from pipeline.config import PipelineConfig
from pipeline.home import Home
from pipeline.metadata.store import PIPELINE_RUN_CONTEXT, connection_config, has_context_type

APPROVAL_PROPERTY = "approval"

APPROVED, REJECTED, TIMED_OUT = "approved", "rejected", "timed out"


def record_decision(home: Home, config: PipelineConfig, run_id: str, decision: dict[str, Any]) -> None:
    """Store `decision` ({"decision", "by", "at", "comment"}, and
    "timeout_minutes" for a timeout) on the run's context."""
    from ml_metadata.metadata_store import metadata_store

    store = metadata_store.MetadataStore(connection_config(home, config))
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if has_context_type(store) else None
    if context is None:
        raise LookupError(f"run {run_id} is not recorded in ML Metadata: no decision can be stored on it")
    context.custom_properties[APPROVAL_PROPERTY].string_value = json.dumps(decision, sort_keys=True)
    store.put_contexts([context])
    if decision["decision"] != APPROVED:
        _mark_blessings_refused(store, context.id, decision["decision"])


def _mark_blessings_refused(store, run_context_id: int, what: str) -> None:
    """A model a person refused stays blessed by the Evaluator, but is no baseline for later runs
    (`components.baseline`): its ModelBlessing says so."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    blessing_types = {t.id for t in store.get_artifact_types() if t.name == "ModelBlessing"}
    executions = [e.id for e in store.get_executions_by_context(run_context_id)]
    outputs = {ev.artifact_id for ev in store.get_events_by_execution_ids(executions) if ev.type == pb.Event.OUTPUT}
    refused = [a for a in store.get_artifacts_by_id(list(outputs)) if a.type_id in blessing_types]
    for blessing in refused:
        blessing.custom_properties[REFUSED_PROPERTY].string_value = what
    if refused:
        store.put_artifacts(refused)


def decision_of(store, run_id: str) -> dict[str, Any] | None:
    """The run's recorded decision, or None (approval not asked, or not answered yet)."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if has_context_type(store) else None
    if context is None or APPROVAL_PROPERTY not in context.custom_properties:
        return None
    return json.loads(context.custom_properties[APPROVAL_PROPERTY].string_value)


def describe(decision: dict[str, Any] | None) -> str:
    """'approved by alice at 2026-12-04T02:10:00Z: "looks good"', for people; '' without one."""
    if not decision:
        return ""
    what = decision["decision"]
    if what == TIMED_OUT:
        return f"rejected: nobody answered within {decision.get('timeout_minutes', '?')} min (at {decision['at']})"
    comment = f': "{decision["comment"]}"' if decision.get("comment") else ""
    return f"{what} by {decision.get('by') or 'unknown'} at {decision['at']}{comment}"


def decisions(store) -> dict[str, dict[str, Any]]:
    """Run id -> its recorded decision, for every run that has one."""
    if not has_context_type(store):
        return {}
    return {context.name: json.loads(context.custom_properties[APPROVAL_PROPERTY].string_value)
            for context in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
            if APPROVAL_PROPERTY in context.custom_properties}
