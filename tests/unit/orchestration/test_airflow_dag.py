"""The Airflow DAG (pipeline/orchestration/airflow_dag.py): the DAG file loads fast and light, its
tasks and edges are the declared nodes', and each task runs the pipeline its run compiled.

Airflow re-parses the DAG file every 30 s and times an import out at 30 s; parsing must not
import TensorFlow or TFX (which alone cost about 16 s and 1.1 GB). The declared graph itself:
tests/unit/definition/test_topology.py.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components import nodes
from pipeline.config import PipelineConfig
from pipeline.definition.pipeline import NODES
from pipeline.home import Home
from pipeline.metadata.records import record_run, recorded_config
from pipeline.metadata.store import open_store
from pipeline.orchestration import airflow_dag
from pipeline.orchestration.airflow_dag import DAG_ID, PREPARE_TASK, REPORT_TASK
from pipeline.orchestration.approval import APPROVAL_TASK
from pipeline.orchestration.runner import compile_pipeline
from pipeline.services import environment

REPO = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).parent / "airflow")

# What the scheduler's DAG file processor does: a DagBag of the configured DAGs folder.
PARSE = """
import json, resource, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
seconds = time.perf_counter() - started
dag = bag.dags.get(sys.argv[2])
tasks = {t.task_id: {"upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                     "teardown": t.is_teardown} for t in dag.tasks} if dag else {}
with open(sys.argv[1], "w") as out:
    json.dump({"import_errors": bag.import_errors, "dags": sorted(bag.dag_ids), "tasks": tasks,
               "max_active_runs": dag.max_active_runs if dag else None,
               "in_process_seconds": seconds,
               # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
               "peak_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 1024,
               "heavy_modules": sorted({"tensorflow", "tfx", "tensorflow_model_analysis"} & set(sys.modules))}, out)
"""


def airflow_env(home: Home, **settings: str) -> dict[str, str]:
    return {**environment.airflow_environment(home), **settings}


def parse_in_fresh_process(tmp_path: Path, env: dict[str, str]) -> dict:
    result_file = tmp_path / "parsed.json"
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", PARSE, str(result_file), DAG_ID], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    wall = time.perf_counter() - started
    assert process.returncode == 0, process.stdout
    return {**json.loads(result_file.read_text()), "wall_seconds": wall}


def test_the_dag_file_parses_fast_without_tensorflow_or_tfx(home, tmp_path):
    parsed = parse_in_fresh_process(tmp_path, airflow_env(home))
    print(f"DAG parse in a fresh process: {parsed['wall_seconds']:.2f} s wall "
          f"({parsed['in_process_seconds']:.2f} s from importing Airflow to the filled DagBag), "
          f"peak RSS {parsed['peak_mb']:.0f} MB")
    assert parsed["import_errors"] == {}
    assert parsed["dags"] == [DAG_ID]
    assert parsed["heavy_modules"] == []
    # Its speed is the benchmark's (`bench/run.py --only dag-parse`), not a timed test's.
    assert parsed["peak_mb"] < 300

    tasks = parsed["tasks"]
    assert set(tasks) == {PREPARE_TASK, REPORT_TASK, APPROVAL_TASK, *NODES}
    assert tasks[PREPARE_TASK]["upstream"] == []
    for node, upstream in NODES.items():
        # The Pusher waits for the approval step too, which waits for the Evaluator.
        extra = [APPROVAL_TASK] if node == nodes.PUSHER else []
        assert tasks[node]["upstream"] == sorted([*(upstream or [PREPARE_TASK]), *extra])
    assert tasks[APPROVAL_TASK]["upstream"] == [nodes.EVALUATOR]
    assert tasks[REPORT_TASK]["teardown"]
    assert tasks[REPORT_TASK]["upstream"] == sorted([PREPARE_TASK, APPROVAL_TASK, *NODES])
    assert parsed["max_active_runs"] == 1
    # Airflow's own default: no retries unless [core] default_task_retries says otherwise.
    assert {t["retries"] for t in tasks.values()} == {0}


def test_retries_come_from_airflows_setting(home, tmp_path):
    parsed = parse_in_fresh_process(tmp_path, airflow_env(home, AIRFLOW__CORE__DEFAULT_TASK_RETRIES="3"))
    assert parsed["import_errors"] == {}
    assert {t["retries"] for t in parsed["tasks"].values()} == {3}


def test_airflow_3_parses_the_dag_with_no_import_errors(home, tmp_path):
    env = airflow_env(home)

    def airflow(*args: str) -> str:
        result = subprocess.run([AIRFLOW, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert airflow("version").strip().startswith("3.")
    airflow("db", "migrate")
    # --local: parse the DAG folder now, as the DAG processor does (not what the database holds).
    # Airflow logs its setup to stdout before the table: the JSON is the last line.
    assert json.loads(airflow("dags", "list-import-errors", "--local", "--output", "json").splitlines()[-1]) == []
    listed = json.loads(airflow("dags", "list", "--local", "--output", "json").splitlines()[-1])
    assert [dag["dag_id"] for dag in listed] == [DAG_ID]


def test_no_airflow_2_idioms_are_left():
    """ruff's Airflow 3 rules (AIR3: removed and moved imports, arguments and settings) over
    everything that touches Airflow."""
    ruff = Path(sys.executable).parent / "ruff"
    folders = [str(REPO / name) for name in ("dags", "pipeline", "components", "tests")]
    result = subprocess.run([str(ruff), "check", "--preview", "--select", "AIR3", "--no-cache", *folders],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_run_s_tasks_execute_the_pipeline_compiled_when_it_started(home, tmp_path):
    """An edit of config.yaml during a run (or before a cleared task runs again) changes nothing
    in it: every task after prepare_data executes the pipeline prepare_data compiled and recorded."""
    import types

    from tfx.proto.orchestration import pipeline_pb2

    from pipeline.config import load_config

    home.root.mkdir(parents=True)
    home.config_file.write_text("epochs: 2\n")
    context = {"run_id": "manual__a-run", "dag_run": types.SimpleNamespace(conf={"seed": 7})}
    started = airflow_dag._requested_config(context)
    compiled = compile_pipeline(started, home, tmp_path / "input").SerializeToString()
    record_run(home, context["run_id"], started.to_dict(), compiled)
    home.config_file.write_text("epochs: 5\nbatch_size: 256\n")
    assert load_config(home=home).epochs == 5

    executed = pipeline_pb2.Pipeline.FromString(airflow_dag._run_pipeline(context))
    assert executed == pipeline_pb2.Pipeline.FromString(compiled)
    [trainer] = [n.pipeline_node for n in executed.nodes if n.pipeline_node.node_info.id == "Trainer"]
    trainer_config = json.loads(trainer.parameters.parameters["custom_config"].field_value.string_value)
    assert (trainer_config["epochs"], trainer_config["batch_size"], trainer_config["seed"]) == \
        (2, PipelineConfig().batch_size, 7)
    assert recorded_config(open_store(home), context["run_id"])["epochs"] == 2
    with pytest.raises(RuntimeError, match="recorded no compiled pipeline"):
        airflow_dag._run_pipeline({**context, "run_id": "manual__never-started"})


def test_the_dag_runs_on_its_data_set_s_partitioned_asset_or_on_a_cron(home, monkeypatch):
    from airflow.sdk import CronTriggerTimetable, PartitionedAssetTimetable

    monkeypatch.setenv("MNIST_PIPELINE_HOME", str(home.root))
    timetable = airflow_dag.build_dag().timetable
    assert isinstance(timetable, PartitionedAssetTimetable)
    assert (timetable.asset_condition.name, timetable.asset_condition.uri) == (
        "mnist_data_set", home.mnist_data.resolve().as_uri())
    home.root.mkdir(parents=True)
    home.config_file.write_text('schedule: "0 3 * * *"\n')
    assert isinstance(airflow_dag.build_dag().timetable, CronTriggerTimetable)


def test_a_run_started_by_an_event_ingests_the_span_its_partition_key_names():
    import types

    def context(key):
        return {"dag_run": types.SimpleNamespace(partition_key=key, conf={})}

    assert airflow_dag.event_span(context("3")) == 3
    assert airflow_dag.event_span(context(None)) is None  # a manual trigger: the oldest span not ingested
    assert airflow_dag.event_span({}) is None
    with pytest.raises(ValueError, match="partition key 'x', which is no span number"):
        airflow_dag.event_span(context("x"))
