"""The Evaluator's EvalConfig: the model gate's metrics and thresholds, from the config.

TFMA is imported when the config is built (by the Evaluator's builder), not at import.
"""
from __future__ import annotations

import json

from components import features
from pipeline.config import PipelineConfig

EVAL_BATCH_SIZE = 1024


def _not_below_baseline(allowed_drop: float):
    import tensorflow_model_analysis as tfma

    # The tiny slack absorbs float round-off when the two accuracies are equal.
    return tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                       absolute={"value": -allowed_drop - 1e-10})


def eval_config(config: PipelineConfig):
    """Accuracy overall and per digit. Bless only if the overall accuracy is at least
    `min_accuracy` and not below the baseline's, and no digit's accuracy is more than
    `max_digit_drop` below the baseline's."""
    import tensorflow_model_analysis as tfma

    overall, per_digit = tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])
    return tfma.EvalConfig(
        # A fixed inference batch: TFMA otherwise grows its batches from one example up.
        model_specs=[tfma.ModelSpec(signature_name=features.SERVING_SIGNATURE, label_key=features.LABEL_KEY,
                                    prediction_key="probabilities", inference_batch_size=EVAL_BATCH_SIZE)],
        # Only the metrics below, not those a model was compiled with.
        options=tfma.Options(include_default_metrics={"value": False}),
        slicing_specs=[overall, per_digit],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name=features.ACCURACY_METRIC["class_name"],
                config=json.dumps(features.ACCURACY_METRIC["config"]),
                # Plain `threshold` would apply to every slice, each digit included.
                per_slice_thresholds=[
                    tfma.PerSliceMetricThreshold(slicing_specs=[overall], threshold=tfma.MetricThreshold(
                        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_accuracy}),
                        change_threshold=_not_below_baseline(0.0),
                    )),
                    tfma.PerSliceMetricThreshold(slicing_specs=[per_digit], threshold=tfma.MetricThreshold(
                        change_threshold=_not_below_baseline(config.max_digit_drop),
                    )),
                ],
            ),
        ])],
    )

