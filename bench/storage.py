"""`make bench`, object storage: the quick slice with the home's own folder against the same
slice stored in a SeaweedFS bucket (`storage: s3://...`, docs/storage.md), in the same benchmark run.

Each mode gets a fresh home: `data`, then the same first run; the two modes alternate, so that
the machine's noise falls on both alike. The figure is the ratio of the medians of the runs'
walls (goal: S3 at most 1.25x local), with each component's time beside it.
"""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from pipeline.home import HOME_ENV, Home
from pipeline.metadata.runs import latest_run_id, summarize_run
from pipeline.metadata.store import open_store
from pipeline.services import object_store
from pipeline.services.processes import free_port
from pipeline.storage.settings import STORAGE_ENV

SLICE = ["--set", "train_examples=3000", "--set", "eval_examples=1000", "--set", "epochs=1"]
BUCKET = "bench"


def storage_figures(work: Path, measured, rounds: int = 2) -> dict:
    """`measured` is bench/run.py's: wall, peak memory and output of one command."""
    server = object_store.Server(work / "object-store", object_store.Keys.generate(), free_port())
    server.start()
    try:
        object_store.ensure_bucket(BUCKET, server.endpoint, server.keys)
        s3_env = object_store.aws_environment(server.endpoint, server.keys)
        walls: dict[str, list[float]] = {"local": [], "s3": []}
        components: dict[str, list[dict]] = {"local": [], "s3": []}
        for index in range(rounds):
            for mode in ("local", "s3"):
                home = Home(work / f"storage-{mode}-{index}")
                env = {**os.environ, HOME_ENV: str(home.root)}
                env.pop(STORAGE_ENV, None)
                if mode == "s3":
                    env.update({**s3_env, STORAGE_ENV: f"s3://{BUCKET}/{mode}-{index}"})
                for args in (["data", "--limit", "3000"], ["run", *SLICE]):
                    done = measured([sys.executable, "-m", "pipeline.cli.main", *args], env)
                    if done["returncode"]:
                        raise RuntimeError(f"{mode}: mnist-pipeline {' '.join(args)} failed:\n{done['output'][-3000:]}")
                walls[mode].append(done["seconds"])
                store = open_store(home)
                summary = summarize_run(home, latest_run_id(store), store)
                components[mode].append({c.node_id: round(c.seconds, 1) for c in summary.components.values()})
    finally:
        server.stop(timeout=0)
    median = {mode: statistics.median(values) for mode, values in walls.items()}
    per_component = {mode: {node: round(statistics.median(run[node] for run in runs), 2) for node in runs[0]}
                     for mode, runs in components.items()}
    return {"runs_per_mode": rounds, "wall_seconds": walls, "median_wall_seconds": median,
            "components_seconds": per_component, "s3_vs_local": median["s3"] / median["local"]}
