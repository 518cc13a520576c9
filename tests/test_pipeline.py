from pathlib import Path

import tensorflow_model_analysis as tfma

from pipeline import pipeline as pipeline_lib
from pipeline import runner
from pipeline.config import PipelineConfig

ORDER = ["ImportExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
         "latest_blessed_model_resolver", "Evaluator", "Pusher"]


def test_pipeline_wires_the_components_in_order(home, tmp_path):
    config = PipelineConfig(epochs=2)
    tfx_pipeline = pipeline_lib.create_pipeline(config, home, tmp_path / "input")
    assert [c.id for c in tfx_pipeline.components] == ORDER
    assert tfx_pipeline.enable_cache
    assert tfx_pipeline.metadata_connection_config.sqlite.filename_uri == str(home.metadata_db)
    trainer = tfx_pipeline.components[ORDER.index("Trainer")]
    assert '"epochs": 2' in trainer.exec_properties["custom_config"]
    pusher = tfx_pipeline.components[-1]
    assert str(home.serving_dir(config)) in str(pusher.exec_properties["push_destination"])


def test_airflow_tasks_follow_the_compiled_dependencies(home):
    nodes = dict(runner.topology(PipelineConfig(), home))
    assert list(nodes) == ORDER
    assert nodes["Evaluator"] == sorted(["ImportExampleGen", "SchemaGen", "Trainer",
                                         "latest_blessed_model_resolver"])
    assert nodes["Pusher"] == ["Evaluator", "Trainer"]


def test_code_changes_change_the_code_version(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(pipeline_lib, "COMPONENTS_DIR", Path(tmp_path))
    before = pipeline_lib.code_version()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert pipeline_lib.code_version() != before


def test_the_gate_is_the_overall_accuracy_against_threshold_and_baseline():
    config = pipeline_lib.eval_config(PipelineConfig(min_accuracy=0.97))
    [accuracy] = [m for m in config.metrics_specs[0].metrics if m.class_name == "SparseCategoricalAccuracy"]
    [gate] = accuracy.per_slice_thresholds
    assert gate.threshold.value_threshold.lower_bound.value == 0.97
    assert gate.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert [list(s.feature_keys) for s in gate.slicing_specs] == [[]]  # overall only
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]
