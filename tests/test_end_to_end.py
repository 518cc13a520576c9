"""The real pipeline, run through Airflow by the CLI, on a small slice of MNIST."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline import data, metadata
from pipeline.config import HOME_ENV, Home

pytestmark = pytest.mark.e2e

COMPONENTS = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "DataValidationGate", "Transform", "Trainer", "Evaluator", "Pusher"]
SLICE = ["--set", "train_examples=3000", "--set", "eval_examples=1000", "--set", "epochs=1"]


def cli(home: Home, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, HOME_ENV: str(home.root)}
    process = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    print(process.stdout)
    return process


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    return Home(tmp_path_factory.mktemp("e2e") / "home")


@pytest.fixture(scope="module")
def first_run(home):
    assert cli(home, "data", "--limit", "3000").returncode == 0
    return cli(home, "run", *SLICE)


def _latest_run_id(store) -> str:
    return max(store.get_contexts_by_type(metadata.PIPELINE_RUN_CONTEXT), key=lambda c: c.id).name


def _versions(home: Home) -> list[str]:
    return sorted(p.name for p in (home.serving_root / "mnist").iterdir() if p.name.isdigit())


def test_run_succeeds_and_reports_what_it_did(first_run):
    assert first_run.returncode == 0, first_run.stdout
    for component in COMPONENTS:
        assert f"{component:<30} COMPLETE" in first_run.stdout
    assert "epoch 1/1" in first_run.stdout
    assert "accuracy:" in first_run.stdout and "blessed:    yes" in first_run.stdout
    assert "pushed:" in first_run.stdout


def test_mlmd_links_every_component_to_its_artifacts(home, first_run):
    store = metadata.open_store(home)
    runs = metadata.component_runs(store, _latest_run_id(store))
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


def test_pushed_model_classifies_serialized_examples(home, first_run):
    [version] = _versions(home)
    model_dir = home.serving_root / "mnist" / version
    assert (model_dir / "saved_model.pb").is_file()
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    eval_files = [str(f) for f in data.split_files(data.input_dir(home, _slice_config()), "eval")]
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


def test_unchanged_rerun_is_fully_cached_and_pushes_nothing_new(home, first_run):
    versions = _versions(home)
    second = cli(home, "run", *SLICE)
    assert second.returncode == 0, second.stdout
    store = metadata.open_store(home)
    runs = metadata.component_runs(store, _latest_run_id(store))
    assert {c: runs[c].state for c in COMPONENTS} == {c: "CACHED" for c in COMPONENTS}
    assert _versions(home) == versions
    assert "already pushed" in second.stdout


def test_a_failing_run_exits_non_zero_and_says_where(home, tmp_path):
    (tmp_path / "no-data" / "train").mkdir(parents=True)
    failed = cli(home, "run", "--set", f"data_dir={tmp_path / 'no-data'}")
    assert failed.returncode == 1
    assert "prepare_data" in failed.stdout and "FAILED" in failed.stdout
    assert "train/ and eval/" in failed.stdout


def test_bad_config_is_refused_before_anything_runs(home):
    refused = cli(home, "run", "--set", "epochs=0")
    assert refused.returncode == 2
    assert "epochs must be at least 1" in refused.stdout
