"""What the pipeline itself records in MLMD on each run's `pipeline_run` context: the resolved
config, the compiled pipeline (IR) and the code's git commit; and closing what a crash left open.
"""
from __future__ import annotations

import base64
import json
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

from pipeline.config import load_config
from pipeline.home import Home
from pipeline.metadata.store import (
    PIPELINE_RUN_CONTEXT,
    connection_config,
    has_context_type,
    node_ids_by_context,
    open_store,
    property_of,
)
from pipeline.services import home_lock

COMPILED_PIPELINE = "compiled_pipeline"  # the run's IR, as its tasks execute it


PACKAGE_DIR = Path(__file__).resolve().parents[2]


def git_commit() -> str:
    """The commit of the code that runs, with '+dirty' for uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PACKAGE_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


def record_run(home: Home, run_id: str, config: dict[str, Any], compiled: bytes | None = None) -> None:
    """Create the run's pipeline_run context up front, carrying the config, the commit and the
    compiled pipeline (serialized IR) that every task of the run executes.

    TFX's launcher finds the context by type and name and attaches every execution to it.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = metadata_store.MetadataStore(connection_config(home, load_config(overrides=config, home=home)))
    context_type = store.get_context_type(PIPELINE_RUN_CONTEXT) if has_context_type(store) else None
    type_id = context_type.id if context_type else store.put_context_type(pb.ContextType(name=PIPELINE_RUN_CONTEXT))
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) or \
        pb.Context(type_id=type_id, name=run_id)
    context.custom_properties["config"].string_value = json.dumps(config, sort_keys=True)
    context.custom_properties["git_commit"].string_value = git_commit()
    context.custom_properties["home"].string_value = str(home.root)
    if compiled is not None:
        context.custom_properties[COMPILED_PIPELINE].string_value = _pack(compiled)
    # Seconds, not milliseconds: MLMD's MySQL schema stores int properties as 32-bit INT.
    context.custom_properties["started_at"].int_value = int(time.time())
    store.put_contexts([context])
    close_orphans(home, store, run_id)


def recorded_config(store, run_id: str) -> dict[str, Any] | None:
    """The config a run recorded when it started (`record_run`), or None if it recorded none."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if has_context_type(store) else None
    if context is None or "config" not in context.custom_properties:
        return None
    return json.loads(context.custom_properties["config"].string_value)


def recorded_pipeline(store, run_id: str) -> bytes | None:
    """The compiled pipeline a run recorded when it started (`record_run`), or None."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id) if has_context_type(store) else None
    if context is None or COMPILED_PIPELINE not in context.custom_properties:
        return None
    return zlib.decompress(base64.b64decode(context.custom_properties[COMPILED_PIPELINE].string_value))


def _pack(compiled: bytes) -> str:
    # Compressed: MLMD's MySQL schema stores string properties as TEXT (64 KB).
    packed = base64.b64encode(zlib.compress(compiled, 9)).decode()
    if len(packed) > 65_000:
        raise ValueError(f"the compiled pipeline takes {len(packed)} bytes packed, more than MLMD's MySQL "
                         f"schema stores in a string property (65,535)")
    return packed


def close_orphans(home: Home, store, run_id: str) -> list[int]:
    """Mark FAILED the executions left RUNNING by this home's runs whose processes are gone
    (killed, machine lost); returns their ids.

    Whether a run is gone is not guessed: an in-process run holds the home's lock
    (`pipeline.services.home_lock`) for as long as any of its processes lives, so while another live
    process holds it nothing is touched. On the scheduler, Airflow runs one DAG run at a time
    (`max_active_runs=1`), so any other run's RUNNING execution is an orphan. Runs recorded by
    another home (a shared MySQL store) are left alone.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb


    if home_lock.live_run_elsewhere(home):
        return []
    current = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    mine = {e.id for e in store.get_executions_by_context(current.id)} if current else set()
    orphans = []
    for execution in store.get_executions():
        if execution.last_known_state != pb.Execution.RUNNING or execution.id in mine:
            continue
        runs = [c for c in store.get_contexts_by_execution(execution.id) if c.name != run_id
                and property_of(c, "home", str(home.root)) == str(home.root) and "config" in c.custom_properties]
        if runs:
            execution.last_known_state = pb.Execution.FAILED
            execution.custom_properties["orphaned"].string_value = f"its process died; closed by run {run_id}"
            orphans.append(execution)
    if orphans:
        store.put_executions(orphans)
    return [e.id for e in orphans]


def mark_interrupted(home: Home, run_id: str, signal_name: str, since_ms: int, config=None,
                     end_unknown: bool = False) -> list[str]:
    """After a run was stopped by a signal: its executions still RUNNING, or failed by the stop
    itself (updated since `since_ms`), become CANCELED with an `interrupted` property, so that
    the run reads as interrupted and each step's time ends when it was stopped. With
    `end_unknown` (closed later, after a crash) they are `orphaned` too: when they stopped is not
    known, so no step time is given. Returns the nodes."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = open_store(home, config)
    context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if context is None:
        return []
    node_ids = node_ids_by_context(store)
    stopped = [e for e in store.get_executions_by_context(context.id)
               if e.last_known_state in (pb.Execution.RUNNING, pb.Execution.NEW)
               or (e.last_known_state == pb.Execution.FAILED and e.last_update_time_since_epoch >= since_ms)]
    for execution in stopped:
        execution.last_known_state = pb.Execution.CANCELED
        execution.custom_properties["interrupted"].string_value = f"stopped by {signal_name}"
        if end_unknown:
            execution.custom_properties["orphaned"].string_value = f"stopped by {signal_name}"
    if stopped:
        store.put_executions(stopped)
    return [node_ids.get(e.id, str(e.id)) for e in stopped]

