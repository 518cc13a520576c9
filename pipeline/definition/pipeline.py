"""The TFX pipeline, top to bottom in the order it runs: the one place that wires it.

ImportExampleGen (this run's span) -> StatisticsGen -> SchemaGen -> ExampleValidator ->
DataValidationGate -> the latest spans (from MLMD) -> Transform -> Tuner -> Trainer -> Evaluator
(on the new span, against the latest blessed model) -> Pusher, with the curated schema
(ImportSchemaGen) as the data contract. Every knob comes from `config`.

Each node is a builder declared with `GRAPH.node` (pipeline/definition/topology.py): TFX builds the pipeline
from the builders, and the Airflow DAG takes its tasks and edges from the declarations. Adding a
component is adding a builder here. This module imports no TFX, TensorFlow or TFMA at import
time (the DAG file loads it); the builders import what they build.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from components import features, nodes
from pipeline.config import PipelineConfig
from pipeline.definition.eval_config import eval_config
from pipeline.definition.topology import Graph
from pipeline.home import Home
from pipeline.metadata.store import connection_config
from pipeline.storage import files
from schema import SCHEMA_FILE

COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "components"


def code_version() -> str:
    """A fingerprint of the code that runs inside the components.

    Transform and Trainer name their functions by import path, which TFX's cache cannot see
    into; passing this fingerprint as a parameter makes a code change invalidate their cache.
    """
    digest = hashlib.sha256()
    for path in sorted(COMPONENTS_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def staged_schema(home: Home) -> Path:
    """The curated schema, copied to a path named by its content.

    ImportSchemaGen's cache key is the file's path, not its content: staging by content makes an
    edit of schema/schema.pbtxt re-import the schema (and re-run what depends on it).
    """
    content = SCHEMA_FILE.read_bytes()
    staged = home.staged_schemas / hashlib.sha256(content).hexdigest()[:16] / SCHEMA_FILE.name
    if not staged.exists():
        staged.parent.mkdir(parents=True, exist_ok=True)
        files.copy_file(SCHEMA_FILE, staged)
    return staged


GRAPH = Graph()


@GRAPH.node("ImportExampleGen")
def _example_gen(data_input, **_):
    """Ingests this run's span (`data_input.span`, chosen by `prepare_data`: the oldest span not
    yet ingested, else the latest) through the `{SPAN}` pattern, or a plain folder as it is,
    copying the records as they are (components/example_gen.py)."""
    from tfx.components import ImportExampleGen
    from tfx.dsl.components.base import executor_spec
    from tfx.proto import example_gen_pb2, range_config_pb2

    from components import example_gen as copying_example_gen

    span, prefix = data_input.span, "" if data_input.span is None else features.SPAN_FOLDER + "/"
    example_gen = ImportExampleGen(
        input_base=str(data_input.folder),
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=split, pattern=f"{prefix}{split}/*.tfrecord") for split in features.SPLITS
        ]),
        range_config=None if span is None else range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)))
    example_gen.executor_spec = executor_spec.BeamExecutorSpec(copying_example_gen.Executor)
    return example_gen


@GRAPH.node("ImportSchemaGen")
def _curated_schema(home: Home, **_):
    """Brings in the curated schema: the reviewed data contract in schema/schema.pbtxt."""
    from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen

    return ImportSchemaGen(schema_file=str(staged_schema(home)))


@GRAPH.node("StatisticsGen", examples="ImportExampleGen.examples", schema="ImportSchemaGen.schema")
def _statistics_gen(examples, schema, **_):
    """Computes feature statistics of both splits, reading the data as the contract says."""
    from tfx.components import StatisticsGen

    return StatisticsGen(examples=examples, schema=schema)


@GRAPH.node("ExampleValidator", statistics="StatisticsGen.statistics", schema="ImportSchemaGen.schema")
def _example_validator(statistics, schema, **_):
    """Checks the statistics of each split against the curated schema and records anomalies."""
    from tfx.components import ExampleValidator

    return ExampleValidator(statistics=statistics, schema=schema)


@GRAPH.node("SchemaGen", statistics="StatisticsGen.statistics")
def _schema_gen(statistics, **_):
    """Infers a schema from today's data, to compare with the contract (`mnist-pipeline schema-diff`)."""
    from tfx.components import SchemaGen

    return SchemaGen(statistics=statistics, infer_feature_shape=True)


@GRAPH.node("DataValidationGate", examples="ImportExampleGen.examples", statistics="StatisticsGen.statistics",
            anomalies="ExampleValidator.anomalies", schema="ImportSchemaGen.schema")
def _data_gate(config: PipelineConfig, examples, statistics, anomalies, schema, **_):
    """Stops the run on any anomaly, image size or train/eval skew: nothing downstream runs."""
    from components.data_gate import DataValidationGate

    return DataValidationGate(examples=examples, statistics=statistics, anomalies=anomalies, schema=schema,
                              max_pixel_shift=config.max_pixel_shift)


@GRAPH.node("latest_spans_resolver", after=["DataValidationGate"], current="ImportExampleGen.examples")
def _spans_resolver(config: PipelineConfig, current, **_):
    """The spans to train on: the latest `train_spans` spans that passed the data gate, this
    run's included; the earlier ones come back from MLMD (components/spans.py)."""
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.types import channel, standard_artifacts

    from components import spans

    return Resolver(strategy_class=spans.LatestSpansStrategy,
                    config={"train_spans": config.train_spans, "gate_node": nodes.DATA_GATE}, **{
                        # Every Examples of the pipeline (only ImportExampleGen makes them); not the
                        # node's output channel, which would be this run's output alone.
                        spans.EXAMPLES_KEY: channel.Channel(type=standard_artifacts.Examples),
                        spans.CURRENT_KEY: current,
                    })


@GRAPH.node("Transform", examples="latest_spans_resolver.examples", schema="ImportSchemaGen.schema")
def _transform(examples, schema, **_):
    """Decodes the image bytes and scales pixels to [0, 1]; the graph is reused at serving time.
    Analyses the spans the Trainer learns from; runs only after the data gate passed."""
    from tfx.components import Transform

    # materialize=False: the Trainer applies the graph as it loads the examples, cheaper than
    # writing (and reading back) every image as 784 floats. disable_statistics: TFX would compute
    # statistics of the data before and after the transform (two more passes over every image),
    # which nothing reads: StatisticsGen's of the raw data are the ones validated.
    return Transform(examples=examples, schema=schema, preprocessing_fn="components.preprocessing.preprocessing_fn",
                     materialize=False, disable_statistics=True, custom_config={"code_version": code_version()})


@GRAPH.node("Tuner", examples="latest_spans_resolver.examples", transform_graph="Transform.transform_graph",
            schema="ImportSchemaGen.schema")
def _tuner(config: PipelineConfig, examples, transform_graph, schema, **_):
    """Searches the recipe's and the model's knobs with KerasTuner when `tune_trials` > 0 (every
    trial kept), on the spans the Trainer learns from; with 0 (the default) it hands the
    recipe's own values on without training."""
    from tfx.components import Tuner
    from tfx.dsl.components.base import executor_spec

    from components import tuner as recipe_tuner

    tuner = Tuner(tuner_fn="components.tuner.tuner_fn", examples=examples, transform_graph=transform_graph,
                  schema=schema, custom_config={**config.recipe().to_custom_config(),
                                                **config.tuning_budget().to_custom_config(),
                                                "code_version": code_version()})
    tuner.executor_spec = executor_spec.ExecutorClassSpec(recipe_tuner.Executor)
    return tuner


@GRAPH.node("Trainer", examples="latest_spans_resolver.examples", transform_graph="Transform.transform_graph",
            schema="ImportSchemaGen.schema", hyperparameters="Tuner.best_hyperparameters")
def _trainer(config: PipelineConfig, examples, transform_graph, schema, hyperparameters, **_):
    """Trains the Keras CNN on the latest spans' examples, transformed as it loads them, with the
    Tuner's best settings, and exports it with the transform graph attached and its feature
    extractor inside."""
    from tfx.components import Trainer
    from tfx.dsl.components.base import executor_spec

    from components import trainer as recipe_trainer

    trainer = Trainer(
        run_fn="components.trainer.run_fn", examples=examples, transform_graph=transform_graph, schema=schema,
        hyperparameters=hyperparameters,
        custom_config={**config.recipe().to_custom_config(), "code_version": code_version()},
    )
    trainer.executor_spec = executor_spec.ExecutorClassSpec(recipe_trainer.Executor)
    return trainer


# The baseline excludes the model just trained (components/baseline.py), so it waits for it.
@GRAPH.node("latest_blessed_model_resolver", candidate="Trainer.model")
def _baseline_resolver(candidate, **_):
    """Finds the baseline: the latest blessed model other than the one just trained."""
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.types import channel, standard_artifacts

    from components import baseline

    return Resolver(strategy_class=baseline.LatestBlessedOtherModelStrategy, **{
        baseline.MODEL_KEY: channel.Channel(type=standard_artifacts.Model),
        baseline.BLESSING_KEY: channel.Channel(type=standard_artifacts.ModelBlessing),
        baseline.CANDIDATE_KEY: candidate,
    })


@GRAPH.node("Evaluator", examples="ImportExampleGen.examples", model="Trainer.model",
            baseline_model="latest_blessed_model_resolver.model", schema="ImportSchemaGen.schema")
def _evaluator(config: PipelineConfig, examples, model, baseline_model, schema, **_):
    """Evaluates the model on the new span's eval split (the data the baseline never saw either)
    and blesses it if it passes the thresholds; also
    records its accuracy and verdict as artifact properties in MLMD (components/evaluator.py)."""
    from tfx.components import Evaluator
    from tfx.dsl.components.base import executor_spec

    from components import evaluator as evaluator_with_metrics

    evaluator = Evaluator(examples=examples, model=model, baseline_model=baseline_model, schema=schema,
                          eval_config=eval_config(config))
    evaluator.executor_spec = executor_spec.BeamExecutorSpec(evaluator_with_metrics.Executor)
    return evaluator


@GRAPH.node("Pusher", model="Trainer.model", model_blessing="Evaluator.blessing")
def _pusher(config: PipelineConfig, home: Home, model, model_blessing, **_):
    """Copies a blessed model to <home>/serving/<name>/<version>/ for TensorFlow Serving."""
    from tfx.components import Pusher
    from tfx.proto import pusher_pb2

    return Pusher(model=model, model_blessing=model_blessing, push_destination=pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(home.serving_dir(config)))))


# Node id -> the node ids it runs after: the Airflow DAG's tasks and edges.
NODES = GRAPH.upstream()


def create_pipeline(config: PipelineConfig, home: Home, data_input):
    """`data_input`: a `pipeline.data.inputs.Input` (the folder and the span to ingest), or a folder."""
    from tfx.orchestration import pipeline as tfx_pipeline

    from pipeline.data import inputs

    if not isinstance(data_input, inputs.Input):
        data_input = inputs.Input(Path(data_input))

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(home.pipeline_root(config)),
        components=GRAPH.build(config=config, home=home, data_input=data_input),
        enable_cache=True,
        metadata_connection_config=connection_config(home, config),
        # A new list: TFX takes list[str | Placeholder], which a list[str] is not to mypy (lists are invariant).
        beam_pipeline_args=list(config.beam_pipeline_args()),
    )

