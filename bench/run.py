"""`make bench`: speed, accuracy and cost of every stage, against baselines measured in the same run.

Writes bench/results/<date>.json and prints a markdown table. `--quick` runs on a slice (3,000
training and 1,000 test images, one epoch) and skips the peer, for development; the full mode is
what the README quotes. Cheap figures are repeated and given as median, min and max.
Each stage runs in a fresh process, in a fresh home under /tmp, measured from outside: wall time,
and peak memory as the largest sum of resident memory over the whole process tree.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stages import first_component_ms, latest_run_log, run_stages, tfx_import_seconds  # noqa: E402
from bench.stats import spread, weights_digest  # noqa: E402
from components import tf_env  # noqa: E402
from components.recipe import native_bfloat16  # noqa: E402
from pipeline.home import HOME_ENV, Home  # noqa: E402
from pipeline.metadata.runs import latest_run_id, summarize_run  # noqa: E402
from pipeline.metadata.store import open_store  # noqa: E402
from pipeline.services import environment  # noqa: E402

PYTHON = sys.executable
GOALS = {"overhead_ratio": "<= 1.3", "pipeline_vs_peer": "<= 0.8", "accuracy_median": ">= 0.995",
         "accuracy_min": ">= 0.994", "quick_accuracy": ">= 0.95", "peak_mb": "<= 2048",
         "reproducibility_difference": "<= 0.0005", "rerun_seconds": "<= 10", "resume_ratio": "<= 1.1",
         "dag_parse_seconds": "< 2", "dag_parse_peak_mb": "< 300", "serving_vs_keras_batch256": ">= 0.8",
         "task_overhead_seconds": "<= 3", "cached_scheduler_run_seconds": "<= 30",
         "scheduler_vs_in_process": "<= 1.1", "not_training_task_peak_mb": "<= 500",
         "s3_vs_local": "<= 1.25",
         # Issue 29, against T (importing TFX's launcher in a fresh process, same benchmark run).
         "fixed_cost_ratio": "<= 0.25", "first_component_ratio": "<= 1.0", "rerun_ratio": "<= 1.3",
         "scheduler_first_component_ratio": "<= 1.0", "scheduler_rerun_ratio": "<= 1.3"}


def _memory_kb(pid: int) -> tuple[int, int]:
    """A process's proportional set size (PSS: its private pages, and its share of each page it
    shares with others; a task forked from a parent that imported TensorFlow shares most of it) and
    its private memory (USS), in kB."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith(("Pss:", "Private_Clean:", "Private_Dirty:")):
                    fields[line.split(":")[0]] = int(line.split()[1])
    except (OSError, ValueError):
        return 0, 0
    return fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def measured(command: list[str], env: dict | None = None, log: Path | None = None) -> dict:
    """Run `command`; its wall time, the peak memory of its whole process tree, its output.

    The tree's memory is the sum of its processes' PSS, which counts a page shared by several
    processes once (their RSS would count it in each: the in-process run forks its tasks from a
    host that imported TensorFlow); the sum of RSS is kept beside it, as measured before."""
    typed_at, started = time.time(), time.perf_counter()
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - closed once the process ends
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    peak = peak_rss = 0
    private_kb: dict[int, int] = {}  # each process's peak USS, by pid (the tasks' events name theirs)
    root = psutil.Process(process.pid)
    # RSS is cheap to read; PSS and USS read /proc/<pid>/smaps_rollup (15-50 ms for a process that
    # loaded TensorFlow), so once a second only: polled faster, it took a fifth of a core.
    for tick in itertools.count():
        if process.poll() is not None:
            break
        try:
            tree = [p for p in [root] + root.children(recursive=True) if p.is_running()]
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in tree))
            if tick % 4 == 0:
                memory = {p.pid: _memory_kb(p.pid) for p in tree}
                peak = max(peak, sum(pss for pss, _ in memory.values()) * 1024)
                for pid, (_, uss) in memory.items():
                    private_kb[pid] = max(private_kb.get(pid, 0), uss)
        except psutil.Error:
            pass
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    output = log.read_text() if log else process.stdout.read()
    if log:
        out.close()
    return {"seconds": seconds, "peak_mb": peak / 2**20, "peak_rss_sum_mb": peak_rss / 2**20,
            "returncode": process.returncode, "output": output, "typed_at": typed_at,
            "peak_uss_mb_by_pid": {pid: kb / 1024 for pid, kb in private_kb.items()}}


def cli(home: Home, *args, log: Path | None = None) -> dict:
    env = {**os.environ, HOME_ENV: str(home.root)}
    result = measured([PYTHON, "-m", "pipeline.cli.main", *args], env, log)
    if result["returncode"] not in (0,) and args[0] != "run":
        raise RuntimeError(f"mnist-pipeline {' '.join(args)} failed:\n{result['output'][-3000:]}")
    return result


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


# What Airflow's DAG file processor does with the DAG file (a DagBag of it), in a fresh
# process. It reports its own peak RSS (it starts no children): polling from outside every
# 0.2 s, as `measured` does, would blur a figure of about a second.
PARSE_SCRIPT = """
import json, resource, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "import_errors": bag.import_errors,
                  "in_process_seconds": time.perf_counter() - started,
                  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
                  "peak_mb": int(next(line for line in open("/proc/self/status")
                                      if line.startswith("VmHWM:")).split()[1]) / 1024,
                  "cpu_seconds": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                  "heavy_modules": sorted({"tensorflow", "tfx"} & set(sys.modules))}))
"""


def dag_parse(home: Home, runs: int = 7) -> dict:
    """Wall time and peak memory of loading the DAG file in a fresh Python process, `runs` times."""
    env = environment.airflow_environment(home)
    dag_file = ROOT / "dags" / "mnist_pipeline.py"
    parses = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([PYTHON, "-c", PARSE_SCRIPT, str(dag_file)], env=env, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        if result.returncode:
            raise RuntimeError(f"parsing {dag_file} failed:\n{result.stdout[-3000:]}")
        parsed = last_json(result.stdout)
        if parsed["import_errors"] or not parsed["dags"]:
            raise RuntimeError(f"{dag_file} did not load: {parsed}")
        parses.append({**parsed, "seconds": seconds})
    return {"dag_parse_seconds": spread([p["seconds"] for p in parses]),
            "dag_parse_peak_mb": spread([p["peak_mb"] for p in parses]),
            # Wall time depends on what else the machine runs; CPU time much less.
            "dag_parse_cpu_seconds": spread([p["cpu_seconds"] for p in parses]),
            "dag_parse_heavy_modules": parses[-1]["heavy_modules"]}


def parse_only(work: Path, stamp: str) -> int:
    """`--only dag-parse`: just the DAG parse figures, in their own results file."""
    results = {"date": stamp, "mode": "dag-parse", "machine": machine(),
               **dag_parse(Home(work / "home"))}
    path = ROOT / "bench" / "results" / f"{stamp}-dag-parse.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"DAG file parse, fresh process: {results['dag_parse_seconds']['median']:.2f} s "
          f"(min {results['dag_parse_seconds']['min']:.2f}, max {results['dag_parse_seconds']['max']:.2f}), "
          f"{results['dag_parse_cpu_seconds']['median']:.2f} s CPU, "
          f"peak {results['dag_parse_peak_mb']['median']:.0f} MB; goals {GOALS['dag_parse_seconds']} s, "
          f"{GOALS['dag_parse_peak_mb']} MB; heavy modules loaded: {results['dag_parse_heavy_modules'] or 'none'}")
    print(f"written to {path}")
    return 0


def machine() -> dict:
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "platform": platform.platform(), "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0],
            # Training computes in bfloat16 where the CPU has it natively: epochs take about a
            # quarter of float32's time then, so figures from the two kinds of CPU do not compare.
            "native_bfloat16": native_bfloat16()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a slice, one epoch, no peer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    parser.add_argument("--only", choices=["dag-parse", "stages", "scheduler", "storage"],
                        help="only this: the DAG parse, a run's stages and fixed cost against T (the first "
                             "run and the unchanged re-runs, in-process), the scheduler path (with the "
                             "in-process runs it is compared with), or the quick slice on local disk against S3")
    args = parser.parse_args()
    tf_env.configure()

    work = Path(tempfile.mkdtemp(prefix="mnist-bench-"))
    if args.only == "dag-parse":
        try:
            return parse_only(work, datetime.datetime.now().strftime("%Y-%m-%dT%H%M"))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    if args.only == "storage":
        return finish(storage_only(work), datetime.datetime.now().strftime("%Y-%m-%dT%H%M"), "storage", work,
                      args.keep)
    home = Home(work / "home")
    logs = ROOT / "bench" / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M")
    train_n, eval_n, epochs = (3000, 1000, 1) if args.quick else (0, 0, None)
    slice_args = (["--set", f"train_examples={train_n}", "--set", f"eval_examples={eval_n}",
                   "--set", f"epochs={epochs}"] if args.quick else [])
    from pipeline.config import PipelineConfig
    epochs = epochs or PipelineConfig().epochs
    results: dict = {"date": stamp, "mode": "quick" if args.quick else "full", "machine": machine()}

    print("0. T: importing TFX's launcher in a fresh process ...", flush=True)
    results["tfx_import_seconds"] = tfx_import_seconds({**os.environ, **tf_env.DEFAULTS})
    floor = results["tfx_import_seconds"]["median"]

    print("1. data and the first full run ...", flush=True)
    results["data_seconds"] = cli(home, "data")["seconds"]
    first = cli(home, "run", *slice_args, log=logs / f"{stamp}-first-run.log")
    if first["returncode"]:
        raise RuntimeError(f"the first run failed; see {logs / f'{stamp}-first-run.log'}")
    summary = latest_summary(home)
    components = {c.node_id: round(c.seconds, 1) for c in summary.components.values()}
    results["pipeline"] = {"wall_seconds": first["seconds"], "peak_mb": first["peak_mb"],
                           "peak_rss_sum_mb": first["peak_rss_sum_mb"],
                           "accuracy": summary.accuracy, "components_seconds": components,
                           "outside_components_seconds": first["seconds"] - sum(components.values()),
                           "weights_digest": weights_digest(summary)}
    results["stages"] = run_stages(first["seconds"], first["typed_at"], summary, first["output"],
                                   latest_run_log(home), first["peak_uss_mb_by_pid"])
    results["fixed_cost_ratio"] = results["stages"]["fixed_cost_ratio"]
    seeds = {PipelineConfig().seed: summary.accuracy}

    if args.only not in ("scheduler", "stages"):
        print("2. plain Keras on in-memory arrays ...", flush=True)
        keras = measured([PYTHON, "bench/keras_baseline.py", str(train_n or 60000), str(eval_n or 10000),
                          str(epochs)])
        results["keras"] = {**last_json(keras["output"]), "peak_mb": keras["peak_mb"]}
        results["overhead_ratio"] = first["seconds"] / results["keras"]["train_seconds"]

    print("3. unchanged re-runs ...", flush=True)
    reruns, rerun_first_components = [], []
    for _ in range(3):
        rerun = cli(home, "run", *slice_args)
        reruns.append(rerun["seconds"])
        rerun_first_components.append(first_component_ms(latest_summary(home)) / 1000 - rerun["typed_at"])
    results["rerun_seconds"] = spread(reruns)
    results["rerun_ratio"] = results["rerun_seconds"]["median"] / floor
    # The first run of a fresh home also creates Airflow's database (once); a later run's start
    # is what every run pays: prepare_data compiles the pipeline in each, changed or not.
    results["rerun_first_component_seconds"] = spread(rerun_first_components)
    results["first_component_ratio"] = results["rerun_first_component_seconds"]["median"] / floor

    if args.only == "stages":
        return finish(results, stamp, "stages", work, args.keep)

    print("4. the same runs on the scheduler (LocalExecutor, PostgreSQL, MariaDB) ...", flush=True)
    from bench.scheduler import scheduler_figures
    overrides = {k: v for k, v in (("train_examples", train_n), ("eval_examples", eval_n), ("epochs", epochs))
                 if args.quick}
    results["scheduler"] = scheduler_figures(work, overrides)
    results["scheduler_vs_in_process"] = results["scheduler"]["first_run_seconds"] / first["seconds"]
    # As in-process: the later runs (the first after `airflow up` also waits for the forkserver's TFX import).
    results["scheduler_first_component_ratio"] = (
        results["scheduler"]["later_runs_first_component_seconds"]["median"] / floor)
    results["scheduler_rerun_ratio"] = results["scheduler"]["cached_run_seconds"]["median"] / floor
    # The same commit, config and data, trained twice (in-process, then on the scheduler in a fresh home).
    results["reproducibility"] = {
        "accuracies": [summary.accuracy, results["scheduler"]["first_run_accuracy"]],
        "difference": abs(summary.accuracy - results["scheduler"]["first_run_accuracy"]),
        "weights_identical": results["pipeline"]["weights_digest"] == results["scheduler"]["first_run_weights_digest"]}
    if args.only == "scheduler":
        return finish(results, stamp, "scheduler", work, args.keep)

    print("5. resume after a Trainer failure ...", flush=True)
    model_dir = home.pipeline_root(PipelineConfig()) / "Trainer" / "model"
    aside = model_dir.with_name("model.aside")
    model_dir.rename(aside)
    model_dir.write_text("a file where the Trainer's output folder belongs: the Trainer fails")
    try:
        failed = cli(home, "run", *slice_args, "--set", "seed=43")
    finally:
        model_dir.unlink()
        aside.rename(model_dir)
    if failed["returncode"] == 0:
        raise RuntimeError("the run meant to fail in the Trainer succeeded")
    resumed = cli(home, "resume")
    first_tail = sum(components.get(c, 0) for c in ("Trainer", "Evaluator", "Pusher"))
    resumed_summary = latest_summary(home)
    results["resume"] = {"wall_seconds": resumed["seconds"], "first_trainer_evaluator_pusher_seconds": first_tail,
                         "states": {c.node_id: c.state for c in resumed_summary.components.values()}}
    results["resume_ratio"] = resumed["seconds"] / first_tail
    seeds[43] = resumed_summary.accuracy

    print("5b. a third seed ...", flush=True)
    cli(home, "run", *slice_args, "--set", "seed=44")
    seeds[44] = latest_summary(home).accuracy
    results["accuracy_by_seed"] = seeds
    results["accuracy_median"] = statistics.median(seeds.values())
    results["accuracy_min"] = min(seeds.values())

    print("6. parsing the DAG file ...", flush=True)
    results.update(dag_parse(home))

    print("7. serving ...", flush=True)
    versions = sorted(p for p in home.serving_dir(PipelineConfig()).iterdir() if p.name.isdigit())
    serving = measured([PYTHON, "bench/serving.py", str(versions[-1]), "300", "30"])
    results["serving"] = last_json(serving["output"])
    results["serving_vs_keras_batch256"] = (results["serving"]["batch256_per_second"]
                                            / results["serving"]["keras_batch256_per_second"])

    print("8. Transform against numpy ...", flush=True)
    from pipeline.data.sources import load_bundled
    split = load_bundled()
    raw = [i.tobytes() for s in ("train", "eval") for i in split[s].images[: (train_n or None) if s == "train"
                                                                             else (eval_n or None)]]
    numpy_times = []
    for _ in range(3):
        started = time.perf_counter()
        np.frombuffer(b"".join(raw), np.uint8).reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
        numpy_times.append(time.perf_counter() - started)
    results["transform"] = {"examples": len(raw),
                            "examples_per_second": len(raw) / components["Transform"],
                            "numpy_examples_per_second": len(raw) / statistics.median(numpy_times)}

    if not args.quick:
        print("9. the peer: TFX's own MNIST example ...", flush=True)
        peer_dir = work / "peer"
        measured([PYTHON, "bench/peer.py", "write", str(peer_dir), "70000"])
        peer = measured([PYTHON, "bench/peer.py", "run", str(peer_dir)], log=logs / f"{stamp}-peer.log")
        peer_accuracy = last_json(measured([PYTHON, "bench/peer.py", "accuracy", str(peer_dir)])["output"])
        results["peer"] = {"wall_seconds": peer["seconds"], "peak_mb": peer["peak_mb"],
                           "returncode": peer["returncode"], **peer_accuracy}

    print("10. Beam's direct runner with two worker processes ...", flush=True)
    results["beam_multi_processing"] = beam_modes(work, slice_args, components)

    print("11. the quick slice on local disk against S3 (SeaweedFS) ...", flush=True)
    from bench.storage import storage_figures
    results["storage"] = storage_figures(work, measured)
    results["s3_vs_local"] = results["storage"]["s3_vs_local"]

    if "peer" in results:
        results["pipeline_vs_peer"] = first["seconds"] / results["peer"]["wall_seconds"]
    if args.quick:
        results["quick_accuracy"] = summary.accuracy
    return finish(results, stamp, "", work, args.keep)


def storage_only(work: Path) -> dict:
    from bench.storage import storage_figures

    print("the quick slice on local disk against S3 (SeaweedFS) ...", flush=True)
    figures = storage_figures(work, measured)
    return {"date": datetime.datetime.now().strftime("%Y-%m-%dT%H%M"), "mode": "quick", "machine": machine(),
            "storage": figures, "s3_vs_local": figures["s3_vs_local"]}


def latest_summary(home: Home):
    return summarize_run(home, latest_run_id(open_store(home)))


BEAM_COMPONENTS = ("StatisticsGen", "Transform", "Evaluator")


def beam_modes(work: Path, slice_args: list[str], in_memory: dict) -> dict:
    """The Beam components' times with two multi-processing workers (a fresh home, one epoch: the
    Trainer does not use Beam) beside the default's (in memory, one worker) of the first run."""
    home = Home(work / "beam-home")
    multi = "--direct_running_mode=multi_processing --direct_num_workers=2"
    # The last --set of a key wins: one epoch whatever the slice says.
    run = cli(home, "run", *slice_args, "--set", "epochs=1", "--set", f"beam_args={multi}")
    if run["returncode"]:
        raise RuntimeError(f"the multi-processing run failed:\n{run['output'][-3000:]}")
    components = {c.node_id: round(c.seconds, 1) for c in latest_summary(home).components.values()}
    return {"beam_args": multi, "seconds": {c: components[c] for c in BEAM_COMPONENTS},
            "in_memory_seconds": {c: in_memory[c] for c in BEAM_COMPONENTS},
            "ratio": sum(components[c] for c in BEAM_COMPONENTS) / sum(in_memory[c] for c in BEAM_COMPONENTS)}


def finish(results: dict, stamp: str, only: str, work: Path, keep: bool) -> int:
    name = "-".join(filter(None, [stamp, "quick" if results["mode"] == "quick" else "", only]))
    path = ROOT / "bench" / "results" / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {path}")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def table(r: dict) -> str:
    def s(x, digits=1):
        return f"{x:.{digits}f}"

    def sp(d, digits=1):
        return f"{d['median']:.{digits}f} (min {d['min']:.{digits}f}, max {d['max']:.{digits}f})"

    rows = _storage_rows(r) if "storage" in r else []
    if "pipeline" not in r:
        return _markdown(r, rows)
    p = r["pipeline"]
    rows = rows + [
        ("Pipeline, first run: wall", f"{s(p['wall_seconds'])} s", ""),
        ("  per component", ", ".join(f"{n} {v}" for n, v in p["components_seconds"].items()), ""),
        ("  outside components (Airflow start, DAG load, task overhead)",
         f"{s(p['outside_components_seconds'])} s", ""),
        ("Unchanged re-run in-process, all cached", f"{sp(r['rerun_seconds'])} s", GOALS["rerun_seconds"] + " s"),
    ]
    rows += _stage_rows(r)
    if "scheduler" in r:
        c = r["scheduler"]
        rows += [
            ("Scheduler (LocalExecutor), first run: trigger to success / in-process wall",
             f"{s(c['first_run_seconds'])} s / {s(p['wall_seconds'])} s = {s(r['scheduler_vs_in_process'], 2)}",
             GOALS["scheduler_vs_in_process"]),
            ("  components / outside them (orchestration): scheduler vs in-process",
             f"{s(sum(c['first_run_components_seconds'].values()))} / "
             f"{s(c['first_run_outside_components_seconds'])} s vs "
             f"{s(sum(p['components_seconds'].values()))} / {s(p['outside_components_seconds'])} s", ""),
            ("  per component on the scheduler", ", ".join(
                f"{n} {v}" for n, v in c["first_run_components_seconds"].items()), ""),
            ("Scheduler, fully cached run: trigger to success", f"{sp(c['cached_run_seconds'])} s",
             GOALS["cached_scheduler_run_seconds"] + " s"),
            ("Task fixed cost (process start to node start), all tasks", f"{sp(c['task_overhead_seconds'], 2)} s",
             GOALS["task_overhead_seconds"] + " s"),
            ("  by node: median (min-max)", ", ".join(
                f"{n} {v['median']:.2f} ({v['min']:.2f}-{v['max']:.2f})"
                for n, v in c["task_overhead_by_node"].items()), ""),
            ("Peak memory of a task that does not train: RSS / private (USS)",
             f"{s(c['not_training_task_peak_rss_mb'], 0)} MB / {s(c['not_training_task_peak_uss_mb'], 0)} MB",
             GOALS["not_training_task_peak_mb"] + " MB"),
            ("  by node: RSS / USS MB", ", ".join(
                f"{n} {v['rss']:.0f}/{v['uss']:.0f}" for n, v in c["task_peak_mb_by_node"].items()), ""),
        ]
    if "reproducibility" in r:
        rep = r["reproducibility"]
        rows.append(("Same commit, config and data twice (in-process, scheduler): accuracy; weights",
                     f"{' / '.join(f'{a:.4f}' for a in rep['accuracies'])}, difference {rep['difference']:.4f}; "
                     f"{'bit-identical' if rep['weights_identical'] else 'different'}",
                     GOALS["reproducibility_difference"]))
    if "accuracy_by_seed" in r:
        rows.append(("Test accuracy by seed (default config)", ", ".join(
            f"{seed}: {a:.4f}" for seed, a in r["accuracy_by_seed"].items()) +
            f"; median {r['accuracy_median']:.4f}, min {r['accuracy_min']:.4f}",
            f"median {GOALS['accuracy_median']}, min {GOALS['accuracy_min']}"))
    if "quick_accuracy" in r:
        rows.append(("Quick slice accuracy", f"{r['quick_accuracy']:.4f}", GOALS["quick_accuracy"]))
    if "beam_multi_processing" in r:
        b = r["beam_multi_processing"]
        rows.append(("Beam components (StatisticsGen, Transform, Evaluator): two multi-processing workers / "
                     "in memory, one worker", f"{sum(b['seconds'].values()):.1f} / "
                     f"{sum(b['in_memory_seconds'].values()):.1f} s = {b['ratio']:.2f} ({b['seconds']} vs "
                     f"{b['in_memory_seconds']})", "the default is the faster"))
    if "overhead_ratio" not in r:
        return _markdown(r, rows)
    k = r["keras"]
    rows += [
        ("Test accuracy: pipeline / plain Keras", f"{p['accuracy']:.4f} / {k['accuracy']:.4f}", ""),
        ("Plain Keras training, same model, epochs, batch", f"{s(k['train_seconds'])} s", ""),
        ("Overhead ratio (pipeline wall / Keras training)", s(r["overhead_ratio"], 2), GOALS["overhead_ratio"]),
        ("Resume after Trainer failure: wall / first Trainer+Evaluator+Pusher",
         f"{s(r['resume']['wall_seconds'])} s / {s(r['resume']['first_trainer_evaluator_pusher_seconds'])} s "
         f"= {s(r['resume_ratio'], 2)}", GOALS["resume_ratio"]),
        ("DAG file parse, fresh process", f"{sp(r['dag_parse_seconds'], 2)} s", GOALS["dag_parse_seconds"] + " s"),
        ("DAG file parse, CPU time", f"{sp(r['dag_parse_cpu_seconds'], 2)} s", ""),
        ("DAG file parse, peak memory", f"{sp(r['dag_parse_peak_mb'], 0)} MB", GOALS["dag_parse_peak_mb"] + " MB"),
        ("Serving (serialized tf.Example), batch 1", f"{s(r['serving']['batch1_per_second'], 0)}/s, p50 "
         f"{s(r['serving']['batch1_p50_ms'], 2)} ms, p99 {s(r['serving']['batch1_p99_ms'], 2)} ms", ""),
        ("Serving, batch 256: signature / bare Keras", f"{s(r['serving']['batch256_per_second'], 0)}/s / "
         f"{s(r['serving']['keras_batch256_per_second'], 0)}/s = {s(r['serving_vs_keras_batch256'], 2)}",
         GOALS["serving_vs_keras_batch256"]),
        ("Transform: examples/s (component) / numpy decode+scale",
         f"{s(r['transform']['examples_per_second'], 0)} / {s(r['transform']['numpy_examples_per_second'], 0)}", ""),
        ("Peak memory, whole first run", f"{s(p['peak_mb'], 0)} MB", GOALS["peak_mb"] + " MB"),
    ]
    if "peer" in r:
        rows.append(("Peer (TFX's MNIST example): wall, peak memory, accuracy on its eval split",
                     f"{s(r['peer']['wall_seconds'])} s, {s(r['peer']['peak_mb'], 0)} MB, "
                     f"{r['peer']['accuracy']:.4f}", ""))
        rows.append(("Pipeline first run / peer, wall", f"{s(p['wall_seconds'])} / {s(r['peer']['wall_seconds'])} s = "
                     f"{s(r['pipeline_vs_peer'], 2)}", GOALS["pipeline_vs_peer"]))
    return _markdown(r, rows)


def _stage_rows(r: dict) -> list:
    """Issue 29's figures: the run's stages, and its fixed costs as ratios to T."""
    if "stages" not in r:
        return []
    g, floor = r["stages"], r["tfx_import_seconds"]["median"]
    tasks = g["tasks_seconds"]
    rows = [
        ("T: importing TFX's launcher in a fresh process", f"{floor:.2f} s (min {r['tfx_import_seconds']['min']:.2f}, "
         f"max {r['tfx_import_seconds']['max']:.2f})", ""),
        ("First TFX component, in-process: from `run` typed to its start, a home's later runs (3) / T",
         f"{r['rerun_first_component_seconds']['median']:.1f} s = {r['first_component_ratio']:.2f} T",
         GOALS["first_component_ratio"]),
        ("  the same in a fresh home's first run (Airflow's database created once)",
         f"{g['first_component_seconds']:.1f} s", ""),
        ("  prepare_data / write_report (the report)",
         f"{tasks.get('prepare_data', 0):.1f} s / {tasks.get('write_report', 0):.1f} s", ""),
        ("Fixed cost: first run's wall less the Trainer's epochs / the epochs",
         f"{g['fixed_cost_seconds']:.1f} s / {g['epochs_seconds']:.1f} s = {g['fixed_cost_ratio']:.2f}",
         GOALS["fixed_cost_ratio"]),
        ("  the Trainer: its epochs / the rest of it (loading, recalibrating, exporting)",
         f"{g['epochs_seconds']:.1f} s / {g['trainer_outside_epochs_seconds']:.1f} s", ""),
        ("Unchanged re-run in-process / T", f"{r['rerun_seconds']['median']:.1f} s = {r['rerun_ratio']:.2f} T",
         GOALS["rerun_ratio"]),
        ("Peak private memory (USS) of an in-process task that does not train",
         f"{g['not_training_task_peak_uss_mb']:.0f} MB ("
         + ", ".join(f"{n} {m['uss']:.0f}" for n, m in g["task_memory_mb"].items()) + ")",
         GOALS["not_training_task_peak_mb"] + " MB"),
        ("Peak memory of the whole first run (PSS summed; RSS summed)",
         f"{r['pipeline']['peak_mb']:.0f} MB; {r['pipeline'].get('peak_rss_sum_mb', 0):.0f} MB",
         GOALS["peak_mb"] + " MB"),
    ]
    if "scheduler_first_component_ratio" in r:
        c = r["scheduler"]
        rows += [("First TFX component on the scheduler: from the trigger to its start, later runs (3) / T",
                  f"{c['later_runs_first_component_seconds']['median']:.1f} s = "
                  f"{r['scheduler_first_component_ratio']:.2f} T", GOALS["scheduler_first_component_ratio"]),
                 ("  the same in the first run after `airflow up` (its forkserver imports TFX once)",
                  f"{c['first_component_seconds']:.1f} s", ""),
                 ("Unchanged re-run on the scheduler, trigger to success / T",
                  f"{c['cached_run_seconds']['median']:.1f} s = {r['scheduler_rerun_ratio']:.2f} T",
                  GOALS["scheduler_rerun_ratio"])]
    return rows


def _storage_rows(r: dict) -> list:
    g = r["storage"]
    m, local = g["median_wall_seconds"], g["components_seconds"]["local"]
    return [("Quick slice, first run: stored in S3 (SeaweedFS) / the home's folder, median of "
             f"{g['runs_per_mode']} each", f"{m['s3']:.1f} s / {m['local']:.1f} s = {r['s3_vs_local']:.2f}",
             GOALS["s3_vs_local"]),
            ("  per component, S3 vs local", ", ".join(
                f"{n} {v}/{local.get(n, 0)}" for n, v in g["components_seconds"]["s3"].items()),
             "")]


def _markdown(r: dict, rows: list) -> str:
    lines = [f"Benchmark {r['date']} ({r['mode']}), {r['machine']['cpus']} CPUs, {r['machine']['memory_gb']} GB",
             "", "| figure | value | goal |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
