"""The pipeline's definition (pipeline/definition/pipeline.py): one builder per node, wired in
order, every knob from PipelineConfig, and exactly the node ids of components/nodes.py."""
from pathlib import Path

import tensorflow_model_analysis as tfma

from pipeline.config import PipelineConfig
from pipeline.definition import pipeline as pipeline_lib
from pipeline.orchestration.runner import compile_pipeline, node_graph

ORDER = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
         "DataValidationGate", "latest_spans_resolver", "Transform", "Tuner", "Trainer",
         "latest_blessed_model_resolver", "Evaluator", "Pusher"]


def test_pipeline_wires_the_components_in_order(home, tmp_path):
    config = PipelineConfig(epochs=2)
    tfx_pipeline = pipeline_lib.create_pipeline(config, home, tmp_path / "input")
    assert sorted(c.id for c in tfx_pipeline.components) == sorted(ORDER)
    assert tfx_pipeline.enable_cache
    assert tfx_pipeline.metadata_connection_config.sqlite.filename_uri == str(home.metadata_db)
    by_id = {c.id: c for c in tfx_pipeline.components}
    trainer = by_id["Trainer"]
    assert '"epochs": 2' in trainer.exec_properties["custom_config"]
    # The Trainer takes the Tuner's best hyperparameters; tuning is off unless the config says so.
    assert by_id["Trainer"].inputs["hyperparameters"] is by_id["Tuner"].outputs["best_hyperparameters"]
    assert '"tune_trials": 0' in by_id["Tuner"].exec_properties["custom_config"]
    pusher = by_id["Pusher"]
    assert str(home.serving_dir(config)) in str(pusher.exec_properties["push_destination"])


def test_compiled_dependencies(home, tmp_path):
    compiled = node_graph(compile_pipeline(PipelineConfig(), home, tmp_path / "input"))
    nodes = {node: sorted(upstream) for node, upstream in compiled.items()}
    assert sorted(nodes) == sorted(ORDER)
    assert nodes["Evaluator"] == ["ImportExampleGen", "ImportSchemaGen", "Trainer",
                                  "latest_blessed_model_resolver"]
    assert nodes["Pusher"] == ["Evaluator", "Trainer"]
    # The data gate holds the spans, and so Transform and everything after it, back.
    assert nodes["latest_spans_resolver"] == ["DataValidationGate", "ImportExampleGen"]
    assert nodes["Transform"] == ["ImportSchemaGen", "latest_spans_resolver"]
    assert nodes["Tuner"] == ["ImportSchemaGen", "Transform", "latest_spans_resolver"]
    assert nodes["Trainer"] == ["ImportSchemaGen", "Transform", "Tuner", "latest_spans_resolver"]
    assert nodes["DataValidationGate"] == ["ExampleValidator", "ImportExampleGen", "ImportSchemaGen",
                                           "StatisticsGen"]


def test_import_example_gen_reads_the_chosen_span_by_its_pattern(home, tmp_path):
    from pipeline.data import inputs

    chosen = inputs.Input(tmp_path / "spans", span=3, data_set="abc")
    by_id = {c.id: c for c in pipeline_lib.create_pipeline(PipelineConfig(train_spans=2), home, chosen).components}
    example_gen = by_id["ImportExampleGen"].exec_properties
    assert '"pattern": "span-{SPAN}/train/*.tfrecord"' in example_gen["input_config"]
    assert '"start_span_number": 3' in example_gen["range_config"] and '"end_span_number": 3' in \
        example_gen["range_config"]
    assert by_id["latest_spans_resolver"].exec_properties["source_uri"]["train_spans"] == 2
    plain = {c.id: c for c in pipeline_lib.create_pipeline(PipelineConfig(), home, tmp_path / "plain").components}
    assert '"pattern": "train/*.tfrecord"' in plain["ImportExampleGen"].exec_properties["input_config"]
    assert not plain["ImportExampleGen"].exec_properties.get("range_config")


def test_code_changes_change_the_code_version(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(pipeline_lib, "COMPONENTS_DIR", Path(tmp_path))
    before = pipeline_lib.code_version()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert pipeline_lib.code_version() != before


def test_model_gate_threshold_overall_and_baseline_overall_and_per_digit():
    config = pipeline_lib.eval_config(PipelineConfig(min_accuracy=0.97))
    [accuracy] = [m for m in config.metrics_specs[0].metrics if m.class_name == "SparseCategoricalAccuracy"]
    overall, per_digit = accuracy.per_slice_thresholds
    assert [list(s.feature_keys) for s in overall.slicing_specs] == [[]]
    assert overall.threshold.value_threshold.lower_bound.value == 0.97
    assert overall.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert overall.threshold.change_threshold.absolute.value < 0  # only round-off slack
    assert overall.threshold.change_threshold.absolute.value > -1e-9
    assert [list(s.feature_keys) for s in per_digit.slicing_specs] == [["label"]]
    assert not per_digit.threshold.HasField("value_threshold")
    assert per_digit.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]


def test_the_curated_schema_is_staged_by_content(home, monkeypatch, tmp_path):
    first = pipeline_lib.staged_schema(home)
    assert first.read_bytes() == pipeline_lib.SCHEMA_FILE.read_bytes()
    assert pipeline_lib.staged_schema(home) == first
    edited = tmp_path / "schema.pbtxt"
    edited.write_text(first.read_text() + "\n# reviewed again\n")
    monkeypatch.setattr(pipeline_lib, "SCHEMA_FILE", edited)
    assert pipeline_lib.staged_schema(home) != first


def test_every_node_id_has_its_one_home():
    """The builders in pipeline/definition/pipeline.py declare exactly the ids of components/nodes.py."""
    from components import nodes
    from pipeline.definition.pipeline import NODES

    assert set(NODES) == set(nodes.ALL)
    assert len(nodes.ALL) == len(set(nodes.ALL))
