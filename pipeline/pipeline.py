"""The TFX pipeline, top to bottom in the order it runs.

ImportExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer
-> Evaluator (against the latest blessed model) -> Pusher. Every knob comes from `config`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.orchestration import pipeline as tfx_pipeline

from components import baseline, features
from pipeline.config import Home, PipelineConfig

COMPONENTS_DIR = Path(__file__).resolve().parent.parent / "components"
ACCURACY_METRIC = "SparseCategoricalAccuracy"


def code_version() -> str:
    """A fingerprint of the code that runs inside the components.

    Transform and Trainer name their functions by import path, which TFX's cache cannot see
    into; passing this fingerprint as a parameter makes a code change invalidate their cache.
    """
    digest = hashlib.sha256()
    for path in sorted(COMPONENTS_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Accuracy overall and per digit; bless only if the overall accuracy is at least
    `min_accuracy` and not below the baseline's."""
    overall = tfma.SlicingSpec()
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=features.LABEL_KEY,
                                    prediction_key="probabilities")],
        slicing_specs=[overall, tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name=ACCURACY_METRIC,
                # Plain `threshold` would apply to every slice, each digit included.
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                    slicing_specs=[overall],
                    threshold=tfma.MetricThreshold(
                        value_threshold=tfma.GenericValueThreshold(
                            lower_bound={"value": config.min_accuracy}),
                        # "not worse than the baseline"; the tiny slack absorbs float round-off.
                        change_threshold=tfma.GenericChangeThreshold(
                            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -1e-10}),
                    ),
                )],
            ),
        ])],
    )


def create_pipeline(config: PipelineConfig, home: Home, input_dir: Path) -> tfx_pipeline.Pipeline:
    # Reads the train/ and eval/ TFRecords of tf.Example as the two splits.
    example_gen = tfx.components.ImportExampleGen(
        input_base=str(input_dir),
        input_config=tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="train", pattern="train/*.tfrecord"),
            tfx.proto.Input.Split(name="eval", pattern="eval/*.tfrecord"),
        ]),
    )

    # Computes feature statistics of both splits.
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])

    # Infers a schema from the statistics (features, types, presence, shapes).
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True)

    # Checks the statistics against the schema and records anomalies.
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])

    # Decodes the image bytes and scales pixels to [0, 1]; the graph is reused at serving time.
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="components.preprocessing.preprocessing_fn",
        custom_config={"code_version": code_version()},
    )

    # Trains the Keras CNN and exports it with the transform graph attached.
    trainer = tfx.components.Trainer(
        run_fn="components.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config={
            "epochs": config.epochs, "batch_size": config.batch_size,
            "learning_rate": config.learning_rate, "seed": config.seed,
            "code_version": code_version(),
        },
    )

    # Finds the baseline: the latest blessed model other than the one just trained.
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=baseline.LatestBlessedOtherModelStrategy,
        **{
            baseline.MODEL_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            baseline.BLESSING_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
            baseline.CANDIDATE_KEY: trainer.outputs["model"],
        },
    ).with_id("latest_blessed_model_resolver")

    # Evaluates the model on the eval split and blesses it if it passes the thresholds.
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs[baseline.MODEL_KEY],
        schema=schema_gen.outputs["schema"],
        eval_config=eval_config(config),
    )

    # Copies a blessed model to <home>/serving/<name>/<version>/ for TensorFlow Serving.
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(home.serving_dir(config)))),
    )

    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(home.pipeline_root(config)),
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, trainer,
                    baseline_resolver, evaluator, pusher],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(home.metadata_db)),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    )
