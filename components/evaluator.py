"""TFX's Evaluator, with a per-digit gate that allows for chance, and its results as properties
of its output artifacts in MLMD.

The stock Evaluator leaves its metrics in files that only TF Model Analysis reads. This executor
also records on the `evaluation` artifact the accuracy overall (`accuracy`, features.ACCURACY) and per digit
(`accuracy_per_digit`, JSON), and on the `blessing` artifact the thresholds that failed
(`validation_failures`, JSON list of sentences): anyone can read a run's results from the
metadata store, and the CLI does without importing TF Model Analysis.

The per-digit gate. TFMA compares each digit's accuracy with the baseline's against a fixed
allowed drop (`max_digit_drop`). On a small eval set that refuses good models by chance: with 50
examples of a digit, one more mistake is a 2-point drop. So a per-digit failure TFMA reports
stands only if the drop is beyond what chance explains on this eval set: if even the upper end
of a 95 % confidence interval for the accuracy difference (new minus baseline, Newcombe's
hybrid score interval from the two Wilson intervals, each digit's example count as n) lies
below -max_digit_drop. Otherwise it is recorded in `digit_drops_within_chance`, and when no
other threshold failed, the model is blessed after all. Overall accuracy is judged as TFMA
does (at least `min_accuracy`, not below the baseline).
"""
import json
import math
import os
from typing import Any

from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_component_specs

from components import features

EXAMPLE_COUNT = "example_count"
BASELINE_MODEL_NAME = "baseline"  # tfma.BASELINE_KEY
Z_95 = 1.959964  # two-sided 95 % normal quantile


def wilson_interval(accuracy: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion seen on n examples (sound near 0 and 1)."""
    if n <= 0:
        return 0.0, 1.0
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(centre - half, accuracy)), min(1.0, max(centre + half, accuracy))  # despite round-off


def difference_upper_bound(new: float, n_new: int, old: float, n_old: int, z: float = Z_95) -> float:
    """The upper end of Newcombe's hybrid score interval for the difference new - old."""
    _, new_high = wilson_interval(new, n_new, z)
    old_low, _ = wilson_interval(old, n_old, z)
    return (new - old) + math.sqrt((new_high - new) ** 2 + (old - old_low) ** 2)


def drop_beyond_chance(new: float, old: float, n: int, allowed_drop: float) -> bool:
    """Whether a digit's accuracy fell from `old` to `new` (both on the same n examples) by more
    than `allowed_drop`, beyond what chance explains at 95 % confidence."""
    return difference_upper_bound(new, n, old, n) < -allowed_drop


def _slice_name(slice_key) -> str:
    if not slice_key.single_slice_keys:
        return "overall"
    return ", ".join(f"digit {k.int64_value}" if k.column == "label" else f"{k.column} {k.int64_value}"
                     for k in slice_key.single_slice_keys)


def read_accuracy(evaluation_uri: str, metric: str = features.ACCURACY) -> tuple[float | None, dict[str, float]]:
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


def read_per_digit(evaluation_uri: str) -> dict[str, dict[str, tuple[float, int]]]:
    """Model ("candidate", "baseline") -> digit -> (accuracy, example count)."""
    import tensorflow_model_analysis as tfma

    values: dict[tuple[str, str], dict[str, float]] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if not metrics.slice_key.single_slice_keys:
            continue
        digit = str(metrics.slice_key.single_slice_keys[0].int64_value)
        for item in metrics.metric_keys_and_values:
            if (item.key.name in (features.ACCURACY, EXAMPLE_COUNT) and not item.key.is_diff
                    and not item.key.HasField("sub_key")):
                model = BASELINE_MODEL_NAME if item.key.model_name == BASELINE_MODEL_NAME else "candidate"
                values.setdefault((model, digit), {})[item.key.name] = item.value.double_value.value
    counts = {digit: int(v[EXAMPLE_COUNT]) for (_, digit), v in values.items() if EXAMPLE_COUNT in v}
    result: dict[str, dict[str, tuple[float, int]]] = {}
    for (model, digit), v in values.items():
        if features.ACCURACY in v and digit in counts:
            result.setdefault(model, {})[digit] = (v[features.ACCURACY], counts[digit])
    return result


def judge(evaluation_uri: str) -> tuple[list[str], list[str]]:
    """The thresholds that failed, in words, and the per-digit drops that chance explains
    (which do not fail the model)."""
    import tensorflow_model_analysis as tfma

    per_digit = read_per_digit(evaluation_uri)
    failures, within_chance = [], []
    for per_slice in tfma.load_validation_result(evaluation_uri).metric_validations_per_slice:
        where = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            value = failure.metric_value.double_value.value
            threshold = failure.metric_threshold
            if not failure.metric_key.is_diff:
                failures.append(f"{where}: accuracy {value:.4f} below the minimum "
                                f"{threshold.value_threshold.lower_bound.value:.4f}")
                continue
            allowed = max(-threshold.change_threshold.absolute.value, 0.0)
            line = f"{where}: accuracy {value:+.4f} against the baseline (allowed drop {allowed:.4f})"
            digit = where.removeprefix("digit ")
            new, old = per_digit.get("candidate", {}).get(digit), per_digit.get(BASELINE_MODEL_NAME, {}).get(digit)
            if new and old and not drop_beyond_chance(new[0], old[0], new[1], allowed):
                bound = difference_upper_bound(new[0], new[1], old[0], new[1])
                within_chance.append(f"{line}: within chance on {new[1]} examples (95 % bound of the difference "
                                     f"reaches {bound:+.4f})")
            else:
                failures.append(line + (f", beyond chance on {new[1]} examples" if new else ""))
    return failures, within_chance


class Executor(evaluator_executor.Executor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY])
        overall, per_digit = read_accuracy(evaluation.uri)
        if overall is not None:
            evaluation.set_float_custom_property(features.ACCURACY, overall)
        evaluation.set_string_custom_property("accuracy_per_digit", json.dumps(per_digit))
        blessings = output_dict.get(standard_component_specs.BLESSING_KEY)
        if blessings:
            failures, within_chance = judge(evaluation.uri)
            blessing = blessings[0]
            blessing.set_string_custom_property("validation_failures", json.dumps(failures))
            blessing.set_string_custom_property("digit_drops_within_chance", json.dumps(within_chance))
            if not failures and blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 0:
                _bless(blessing)


def _bless(blessing) -> None:
    """Turn TFMA's NOT_BLESSED into BLESSED, as the stock executor writes it (the file and the
    property the Pusher and the baseline resolver read)."""
    not_blessed = os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME)
    if os.path.exists(not_blessed):
        os.remove(not_blessed)
    with open(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME), "w"):
        pass
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE)
