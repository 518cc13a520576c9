"""TFX's Evaluator, plus its results as properties of its output artifacts in MLMD.

The stock Evaluator leaves its metrics in files that only TF Model Analysis reads. This executor
also records on the `evaluation` artifact the accuracy overall (`accuracy`, features.ACCURACY) and per digit
(`accuracy_per_digit`, JSON), and on the `blessing` artifact the thresholds that failed
(`validation_failures`, JSON list of sentences): anyone can read a run's results from the
metadata store, and the CLI does without importing TF Model Analysis.
"""
import json
from typing import Any, Dict, List, Optional, Tuple

from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_component_specs

from components import features

BASELINE_MODEL_NAME = "baseline"  # tfma.BASELINE_KEY


def _slice_name(slice_key) -> str:
    if not slice_key.single_slice_keys:
        return "overall"
    return ", ".join(f"digit {k.int64_value}" if k.column == "label" else f"{k.column} {k.int64_value}"
                     for k in slice_key.single_slice_keys)


def read_accuracy(evaluation_uri: str, metric: str = features.ACCURACY) -> Tuple[Optional[float], Dict[str, float]]:
    import tensorflow_model_analysis as tfma

    overall, per_digit = None, {}
    for metrics in tfma.load_metrics(evaluation_uri):
        for item in metrics.metric_keys_and_values:
            # With a baseline, TFMA reports both models ("candidate", "baseline") and their diff.
            if item.key.name != metric or item.key.HasField("sub_key") or item.key.is_diff \
                    or item.key.model_name == BASELINE_MODEL_NAME:
                continue
            value = item.value.double_value.value
            if not metrics.slice_key.single_slice_keys:
                overall = value
            else:
                per_digit[str(metrics.slice_key.single_slice_keys[0].int64_value)] = value
    return overall, dict(sorted(per_digit.items()))


def read_validation_failures(evaluation_uri: str) -> List[str]:
    """The model-validation thresholds that failed, in words."""
    import tensorflow_model_analysis as tfma

    lines = []
    for per_slice in tfma.load_validation_result(evaluation_uri).metric_validations_per_slice:
        where = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if failure.metric_key.is_diff:
                allowed = max(-threshold.change_threshold.absolute.value, 0.0)
                lines.append(f"{where}: accuracy {value:+.4f} against the baseline (allowed drop {allowed:.4f})")
            else:
                lines.append(f"{where}: accuracy {value:.4f} below the minimum "
                             f"{threshold.value_threshold.lower_bound.value:.4f}")
    return lines


class Executor(evaluator_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY])
        overall, per_digit = read_accuracy(evaluation.uri)
        if overall is not None:
            evaluation.set_float_custom_property(features.ACCURACY, overall)
        evaluation.set_string_custom_property("accuracy_per_digit", json.dumps(per_digit))
        blessings = output_dict.get(standard_component_specs.BLESSING_KEY)
        if blessings:
            blessings[0].set_string_custom_property(
                "validation_failures", json.dumps(read_validation_failures(evaluation.uri)))
