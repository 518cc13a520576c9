"""The real pipeline, run through Airflow by the CLI, on a small slice of MNIST."""
import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.data import inputs
from pipeline.data.data_sets import span_dir
from pipeline.home import Home
from pipeline.metadata.runs import component_runs, latest_run_id, summarize_run
from pipeline.metadata.store import open_store
from tests.support.airflow import error_lines, task_logs
from tests.support.cli import cli, cli_json, command, environment
from tests.support.runs import COMPONENTS

SLICE = ["--set", "train_examples=3000", "--set", "eval_examples=1000", "--set", "epochs=1"]


@pytest.fixture(scope="module")
def first_run(home_for_module):
    assert cli(home_for_module, "data", "--limit", "3000").returncode == 0
    return cli(home_for_module, "run", *SLICE)


@contextlib.contextmanager
def trainer_cannot_write(home: Home):
    """A file where the Trainer's output folder belongs: any Trainer run inside fails."""
    model_dir = home.root / "pipelines" / "mnist" / "Trainer" / "model"
    aside = model_dir.with_name("model.aside")
    model_dir.rename(aside)
    model_dir.write_text("a file where the Trainer's output folder belongs: the Trainer fails")
    try:
        yield
    finally:
        model_dir.unlink()
        aside.rename(model_dir)


def _latest_run_id(store) -> str:
    return latest_run_id(store)


def _versions(home: Home) -> list[str]:
    return sorted(p.name for p in (home.serving_root / "mnist").iterdir() if p.name.isdigit())


def test_run_succeeds_and_reports_what_it_did(first_run):
    assert first_run.returncode == 0, first_run.stdout
    for component in COMPONENTS:
        assert f"{component:<30} COMPLETE" in first_run.stdout
    assert "epoch 1/1" in first_run.stdout
    assert "\n  accuracy   " in first_run.stdout and "\n  blessed: accuracy >=" in first_run.stdout
    assert "pushed:" in first_run.stdout


def test_no_component_tries_to_download_anything(home_for_module, first_run):
    """Beam runs on the runner chosen for it (pipeline/orchestration/beam_runner.py): no Prism
    runner set up, and no binary fetched from the internet, in any task."""
    [log] = [line.split("full log:", 1)[1].strip() for line in first_run.stdout.splitlines() if "full log:" in line]
    text = Path(log).read_text()
    assert "StatisticsGen" in text and "Transform" in text and "Evaluator" in text
    fetching = re.compile(r"(?i)prism|downloading|https?://(?!127\.0\.0\.1)")
    assert [line for line in text.splitlines() if fetching.search(line)] == []


def test_the_same_commit_config_and_data_train_the_same_model(home_for_module, first_run, tmp_path):
    """Reproducibility: another home, the same config and data, gives bit-identical weights
    (the Trainer trains under TensorFlow's op determinism), hence the same accuracy."""
    from bench.stats import weights_digest

    other = Home(tmp_path / "home")
    assert cli(other, "data", "--limit", "3000").returncode == 0
    assert cli(other, "run", *SLICE).returncode == 0
    first, second = (summarize_run(h, latest_run_id(open_store(h))) for h in (home_for_module, other))
    assert first.config == second.config
    assert abs(first.accuracy - second.accuracy) <= 0.0005
    assert weights_digest(first) == weights_digest(second)


def test_mlmd_links_every_component_to_its_artifacts(home_for_module, first_run):
    store = open_store(home_for_module)
    runs = component_runs(store, _latest_run_id(store))
    for component in COMPONENTS:
        execution = runs[component]
        assert execution.state == "COMPLETE"
        events = store.get_events_by_execution_ids([execution.execution_id])
        kinds = {e.type for e in events}
        assert 4 in kinds, f"{component} has no OUTPUT event"  # Event.OUTPUT
        if component not in ("ImportExampleGen", "ImportSchemaGen"):
            assert 3 in kinds, f"{component} has no INPUT event"  # Event.INPUT
    [examples] = runs["ImportExampleGen"].outputs["examples"]
    assert Path(examples.uri, "Split-train").is_dir() and Path(examples.uri, "Split-eval").is_dir()


def test_pushed_model_classifies_serialized_examples(home_for_module, first_run):
    [version] = _versions(home_for_module)
    model_dir = home_for_module.serving_root / "mnist" / version
    assert (model_dir / "saved_model.pb").is_file()
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    eval_span = span_dir(inputs.input_dir(home_for_module, _slice_config()), 1)
    eval_files = [str(f) for f in inputs.split_files(eval_span, "eval")]
    records = list(tf.data.TFRecordDataset(eval_files).take(300).as_numpy_iterator())
    labels = [tf.train.Example.FromString(r).features.feature["label"].int64_list.value[0] for r in records]
    # Only image_raw is needed at serving time: strip everything else.
    examples = []
    for record in records:
        example = tf.train.Example.FromString(record)
        stripped = tf.train.Example()
        stripped.features.feature["image_raw"].CopyFrom(example.features.feature["image_raw"])
        examples.append(stripped.SerializeToString())
    out = serve(examples=tf.constant(examples))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (300, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    accuracy = np.mean(out["digit"].numpy() == np.array(labels))
    assert accuracy > 0.85, accuracy


def _slice_config():
    from pipeline.config import PipelineConfig
    return PipelineConfig(train_examples=3000, eval_examples=1000)


def test_unchanged_rerun_is_fully_cached_and_pushes_nothing_new(home_for_module, first_run):
    versions = _versions(home_for_module)
    second = cli(home_for_module, "run", *SLICE)
    assert second.returncode == 0, second.stdout
    store = open_store(home_for_module)
    runs = component_runs(store, _latest_run_id(store))
    assert {c: runs[c].state for c in COMPONENTS} == {c: "CACHED" for c in COMPONENTS}
    assert _versions(home_for_module) == versions
    assert "already pushed" in second.stdout


def test_a_failing_run_exits_non_zero_and_says_where(home_for_module, tmp_path):
    (tmp_path / "no-data" / "train").mkdir(parents=True)
    failed = cli(home_for_module, "run", "--set", f"data_dir={tmp_path / 'no-data'}")
    assert failed.returncode == 1
    assert "prepare_data" in failed.stdout and "FAILED" in failed.stdout
    assert "train/ and eval/" in failed.stdout


# --- Inspecting runs (issue: inspect and resume) ---------------------------------------------

def test_runs_and_show_read_the_metadata_store(home_for_module, first_run):
    runs = cli_json(home_for_module, "runs")
    first = runs[0]
    assert first["state"] == "COMPLETE" and first["blessed"] is True and first["pushed_version"]
    assert first["config"]["train_examples"] == 3000 and first["git_commit"]
    assert set(COMPONENTS) <= set(first["components"])
    shown = cli_json(home_for_module, "show", first["run_id"])
    trainer = shown["components"]["Trainer"]
    assert trainer["state"] == "COMPLETE" and trainer["seconds"] > 0
    assert {a["type"] for a in trainer["outputs"]["model"]} == {"Model"}
    assert {"examples", "transform_graph", "schema"} <= set(trainer["inputs"])
    assert shown["anomalies"] == []
    assert set(shown["accuracy_per_digit"]) == {str(d) for d in range(10)}
    assert shown["report"] and Path(shown["report"]).is_file()
    text = cli(home_for_module, "show", first["run_id"]).stdout  # in words: one line per component, no artifacts
    assert "data validation:\n  no anomalies" in text and "evaluation:" in text and "report:" in text
    for component in COMPONENTS:
        assert re.search(rf"^  {component} +COMPLETE +\d+\.\d s$", text, re.MULTILINE), component
    assert "blessed: accuracy >= min_accuracy 0.9; no baseline (no earlier blessed model)" in text
    assert "file://" not in text and str(home_for_module.root / "pipelines") not in text and len(text.splitlines()) < 40
    verbose = cli(home_for_module, "show", "--verbose", first["run_id"]).stdout
    assert str(home_for_module.root / "pipelines" / "mnist" / "Trainer" / "model") in verbose
    assert "accuracy_per_digit = {" in verbose  # every property, none cut short


def test_lineage_of_the_latest_push_schema_diff_json_and_a_report_elsewhere(home_for_module, first_run, tmp_path):
    latest = cli_json(home_for_module, "lineage", "-1")["pushed_model"]
    assert latest["properties"]["pushed_version"] == _versions(home_for_module)[-1]
    first = cli_json(home_for_module, "runs")[0]["run_id"]
    diff = cli_json(home_for_module, "schema-diff", first)
    assert diff["run_id"] == first and diff["inferred"].endswith("schema.pbtxt")
    assert isinstance(diff["differences"], list)
    written = cli(home_for_module, "report", first, "--output", str(tmp_path / "elsewhere.html"))
    assert written.returncode == 0 and written.stdout.strip().endswith(str(tmp_path / "elsewhere.html"))
    assert (tmp_path / "elsewhere.html").read_text().startswith("<!DOCTYPE html>")


def test_lineage_names_the_data_schema_transform_config_and_commit(home_for_module, first_run):
    [run] = [r for r in cli_json(home_for_module, "runs") if r["pushed_version"]][:1]
    lineage = cli_json(home_for_module, "lineage", run["pushed_version"])
    assert lineage["run_id"] == run["run_id"]
    assert lineage["config"]["epochs"] == 1 and lineage["git_commit"] == run["git_commit"]
    by_component = {step["component"]: step for step in lineage["steps"]}
    assert {"Pusher", "Trainer", "Transform"} <= set(by_component)
    store = open_store(home_for_module)
    runs = component_runs(store, run["run_id"])
    examples_id = runs["ImportExampleGen"].outputs["examples"][0].id
    schema_id = runs["ImportSchemaGen"].outputs["schema"][0].id
    graph_id = runs["Transform"].outputs["transform_graph"][0].id
    trainer_inputs = by_component["Trainer"]["inputs"]
    assert trainer_inputs["transform_graph"][0]["id"] == graph_id
    assert trainer_inputs["schema"][0]["id"] == schema_id
    assert by_component["Transform"]["inputs"]["examples"][0]["id"] == examples_id
    # The same model found by its serving path, and the other way: examples -> models.
    path_lineage = cli_json(home_for_module, "lineage", lineage["pushed_model"]["properties"]["pushed_destination"])
    assert path_lineage["pushed_model"]["id"] == lineage["pushed_model"]["id"]
    models = cli_json(home_for_module, "lineage", "--examples", str(examples_id))["models"]
    assert runs["Trainer"].outputs["model"][0].id in [m["id"] for m in models]


def test_compare_shows_config_and_metric_differences(home_for_module, first_run):
    runs = cli_json(home_for_module, "runs")
    compared = cli_json(home_for_module, "compare", runs[0]["run_id"], runs[-1]["run_id"])
    assert "accuracy" in compared["metrics"]
    assert cli(home_for_module, "compare", "-1", runs[0]["run_id"]).returncode == 0


def test_unknown_runs_and_models_get_clear_errors(home_for_module, first_run):
    for args, message in ((("show", "no-such-run"), "no pipeline run 'no-such-run'"),
                          (("lineage", "123"), "no pushed model '123'"),
                          (("compare", "nope", "-1"), "no pipeline run 'nope'")):
        result = cli(home_for_module, *args)
        assert result.returncode == 2 and message in result.stdout


def test_report_opens_in_a_real_browser(home_for_module, first_run):
    from playwright.sync_api import sync_playwright

    first = cli_json(home_for_module, "runs")[0]["run_id"]
    report = Path(cli_json(home_for_module, "show", first)["report"])
    assert report.is_file()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        confusion = page.locator("#confusion-matrix")
        assert confusion.is_visible()
        assert confusion.evaluate("image => image.complete && image.naturalWidth") > 100
        assert page.locator("img.digits").count() == 2
        assert "Accuracy on the eval split" in page.content()
        browser.close()
    assert errors == []


# --- Resuming ---------------------------------------------------------------------------------

RESUMABLE = ["--set", "epochs=2", "--set", "max_digit_drop=0.05"]
UPSTREAM = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
            "DataValidationGate", "Transform"]


def test_a_run_failed_in_the_trainer_resumes_from_the_trainer(home_for_module, first_run):
    with trainer_cannot_write(home_for_module):
        failed = cli(home_for_module, "run", *SLICE, *RESUMABLE)
    assert failed.returncode == 1
    assert "Trainer                        FAILED" in failed.stdout

    resumed = cli(home_for_module, "resume")
    assert resumed.returncode == 0, resumed.stdout
    store = open_store(home_for_module)
    runs = component_runs(store, _latest_run_id(store))
    assert {c: runs[c].state for c in UPSTREAM} == {c: "CACHED" for c in UPSTREAM}
    assert {c: runs[c].state for c in ("Trainer", "Evaluator", "Pusher")} == \
        {c: "COMPLETE" for c in ("Trainer", "Evaluator", "Pusher")}
    assert len(_versions(home_for_module)) == 2, "the resumed run pushes its model"


def test_a_run_killed_during_training_leaves_mlmd_consistent(home_for_module, first_run):
    process = subprocess.Popen(command("run", *SLICE, "--set", "epochs=3", "--set", "max_digit_drop=0.05"),
                               env=environment(home_for_module), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    for line in process.stdout:
        if "Trainer" in line and "running" in line:
            break
        assert time.monotonic() < deadline
    time.sleep(5)  # well inside the training
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    following = cli(home_for_module, "run", *SLICE, "--set", "epochs=3", "--set", "max_digit_drop=0.05")
    assert following.returncode == 0, following.stdout
    store = open_store(home_for_module)
    from ml_metadata.proto import metadata_store_pb2 as pb
    assert not [e.id for e in store.get_executions() if e.last_known_state == pb.Execution.RUNNING]
    runs = component_runs(store, _latest_run_id(store))
    assert runs["Trainer"].state == "COMPLETE" and runs["Transform"].state == "CACHED"


def test_clearing_the_failed_task_in_airflow_resumes_the_same_dag_run(home_for_module, first_run):
    """The Airflow way, on the embedded `airflow up` (LocalExecutor on SQLite, one task at a time):
    a run fails in the Trainer; clearing the failed task and what follows it, as the UI's Clear
    does (the same REST call), makes the scheduler run only those again, in the same DAG run."""
    from pipeline.services import airflow_api, logins, processes

    port = processes.free_port()
    up = cli(home_for_module, "airflow", "up", "--port", str(port), timeout=900)
    try:
        assert up.returncode == 0, up.stdout
        assert "embedded profile, LocalExecutor, 1 task(s) at once" in up.stdout
        with trainer_cannot_write(home_for_module):
            failed = cli(home_for_module, "run", *SLICE, "--set", "epochs=2", "--set", "seed=44",
                         "--set", "max_digit_drop=0.05")
            assert failed.returncode == 1 and "triggered" in failed.stdout, failed.stdout
        store = open_store(home_for_module)
        run_id = _latest_run_id(store)
        before = component_runs(store, run_id)
        assert before["Trainer"].state == "FAILED"
        # The failed task's log shows its error as the UI's red (ERROR) lines; a task that succeeded shows none.
        trainer_log = task_logs(home_for_module, run_id, "Trainer")
        assert error_lines(trainer_log) and "is not a directory" in trainer_log
        assert error_lines(task_logs(home_for_module, run_id, "Transform")) == []

        api = airflow_api.Api(f"http://127.0.0.1:{port}", *logins.api_credentials(home_for_module))
        cleared = airflow_api.clear_failed(api, "mnist_pipeline", run_id)
        assert {"Trainer", "Evaluator", "Pusher"} <= set(cleared) and "Transform" not in cleared
        lines = []
        assert airflow_api.follow(api, "mnist_pipeline", run_id, lines.append, lambda *_: None) == "success"
        runs = component_runs(open_store(home_for_module), run_id)  # the same MLMD pipeline run
        assert {t: runs[t].state for t in ("Trainer", "Evaluator", "Pusher")} == \
            {t: "COMPLETE" for t in ("Trainer", "Evaluator", "Pusher")}
        # Upstream comes from the first attempt, untouched, and did not run again.
        assert runs["Transform"].execution_id == before["Transform"].execution_id
        tries = {t["task_id"]: t["try_number"] for t in
                 api.get(f"/dags/mnist_pipeline/dagRuns/{run_id}/taskInstances")["task_instances"]}
        assert tries["Trainer"] == 2 and tries["Transform"] == 1 and tries["prepare_data"] == 1
    finally:
        cli(home_for_module, "airflow", "down", timeout=300)


# --- Interrupts and one run at a time (issue 15) ----------------------------------------------

NEW_MODEL = [*SLICE, "--set", "epochs=2", "--set", "seed=46", "--set", "max_digit_drop=0.05"]


@pytest.fixture(scope="module")
def interrupted(home_for_module, first_run):
    """Two runs of a new config started together on one home; the one that got the home's lock
    is sent SIGINT (Ctrl-C) five seconds into its Trainer."""
    import psutil

    began_ms = int(time.time() * 1000)
    pair = [subprocess.Popen(command("run", *NEW_MODEL), env=environment(home_for_module), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    refused = None
    while refused is None:
        refused = next((p for p in pair if p.poll() is not None), None)
        assert int(time.time() * 1000) - began_ms < 60_000, "neither run was refused"
        time.sleep(0.2)
    refused_after = (int(time.time() * 1000) - began_ms) / 1000
    [winner] = [p for p in pair if p is not refused]
    output = []
    for line in winner.stdout:
        output.append(line)
        if "Trainer" in line and "running" in line:
            break
    trainer_seen = time.monotonic()
    time.sleep(5)
    tree = [psutil.Process(winner.pid), *psutil.Process(winner.pid).children(recursive=True)]
    signalled = time.monotonic()
    winner.send_signal(signal.SIGINT)
    output.append(winner.stdout.read())
    code = winner.wait(timeout=60)
    return {"refused": refused, "refused_output": refused.stdout.read(), "refused_after": refused_after,
            "winner": winner, "code": code, "output": "".join(output), "stop_seconds": time.monotonic() - signalled,
            "trainer_seconds": time.monotonic() - trainer_seen, "tree": tree, "began_ms": began_ms}


def test_two_runs_started_together_on_one_home_one_is_refused_at_once(interrupted):
    assert interrupted["refused"].returncode == 2, interrupted["refused_output"]
    assert "another run is in progress" in interrupted["refused_output"]
    assert f"by process {interrupted['winner'].pid}" in interrupted["refused_output"]
    assert interrupted["refused_after"] < 30


def test_sigint_during_the_trainer_stops_the_run_within_15_s_leaving_nothing_running(home_for_module, interrupted):
    import psutil

    assert interrupted["code"] == 130, interrupted["output"]
    assert interrupted["stop_seconds"] < 15
    assert "interrupted by SIGINT" in interrupted["output"] and "mnist-pipeline resume" in interrupted["output"]
    assert "Traceback" not in interrupted["output"]
    assert not [p.pid for p in interrupted["tree"] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    from pipeline.services import home_lock
    assert home_lock.holder(home_for_module) is None


def test_an_interrupted_run_shows_as_interrupted_with_its_true_duration(home_for_module, interrupted):
    from ml_metadata.proto import metadata_store_pb2 as pb

    latest = cli_json(home_for_module, "runs")[-1]
    assert latest["state"] == "INTERRUPTED"
    trainer = latest["components"]["Trainer"]
    assert trainer["state"] == "CANCELED"
    # Its time ends when it was stopped, not when a later run noticed.
    assert 4 <= trainer["seconds"] <= interrupted["trainer_seconds"] + 2
    assert latest["seconds"] <= (int(time.time() * 1000) - interrupted["began_ms"]) / 1000
    store = open_store(home_for_module)
    assert not [e.id for e in store.get_executions() if e.last_known_state == pb.Execution.RUNNING]
    # Exactly one of the two runs trained.
    trainer_type = store.get_execution_type("tfx.components.trainer.component.Trainer")
    started = [e for e in store.get_executions_by_type(trainer_type.name)
               if e.create_time_since_epoch >= interrupted["began_ms"]]
    assert len(started) == 1


def test_resume_after_an_interrupt_completes_from_the_trainer(home_for_module, interrupted):
    resumed = cli(home_for_module, "resume")
    assert resumed.returncode == 0, resumed.stdout
    assert "stopped at Trainer" in resumed.stdout
    store = open_store(home_for_module)
    runs = component_runs(store, _latest_run_id(store))
    assert {c: runs[c].state for c in UPSTREAM} == {c: "CACHED" for c in UPSTREAM}
    assert runs["Trainer"].state == "COMPLETE" and runs["Pusher"].state == "COMPLETE"
    # `show` names the baseline it was judged against by version and run, not by an internal id.
    baseline = cli_json(home_for_module, "show")["baseline"]
    assert baseline["run_id"] and baseline["pushed_version"]
    assert f"the baseline, version {baseline['pushed_version']} from run {baseline['run_id']}" in \
        cli(home_for_module, "show").stdout
