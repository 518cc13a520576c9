"""The training recipe: every setting of how the model is trained, with its default, in one place.

`PipelineConfig` (pipeline/config.py) takes its training keys and their defaults from here, and
the Trainer receives the recipe as its custom_config; `Recipe.from_custom_config` refuses a
missing key (or a value out of range) instead of falling back to a default of its own. Imports no TensorFlow.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

PRECISIONS = ("auto", "float32", "bfloat16")
# Upper bounds of the ranges checked by Recipe.problems (and so by PipelineConfig, at the door).
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 8192
MAX_SEED = 2**32 - 1
MAX_CONV_FILTERS = 256
MAX_STAGES = 4
MAX_CONVS_PER_STAGE = 4

# Named sets of recipe values. The config's `preset` key applies one beneath the config file's and
# the command line's own values (pipeline/config.py); docs/model.md has what each one measured.
PRESETS: dict[str, dict[str, Any]] = {
    # At most half of the old default's training time (before issue 30) for a median accuracy of
    # at least 99.5 %: 3 epochs of 128, the peak learning rate scaled with the batch (by about
    # its square root). Without weight averaging, as measured (2026-12-07T1449; 99.53 % with the
    # default's dropout 0.1 at T1824).
    "fast": {"epochs": 3, "batch_size": 128, "learning_rate": 0.011, "weight_averaging": 0.0},
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    # 7 epochs of 128 with weight averaging and dropout 0.1: a median of 99.61 % in 0.81 of the
    # training time of the default before issue 30 (docs/benchmark.md, 2026-12-07T1824); 9 epochs
    # of 64 before T1449.
    epochs: int = 7
    batch_size: int = 128
    # Adam's peak learning rate: reached after the warm-up, then cosine decay to 0 (one cycle).
    learning_rate: float = 0.011
    warmup_fraction: float = 0.15  # share of all steps spent warming up linearly from ~0
    # Augmentation, drawn anew for every training image each epoch (0 = none): shifted by up to
    # `max_shift` pixels each way, turned by up to `max_rotation` degrees either way, and scaled
    # by up to `max_scale` (0.1: 90 % to 110 %) about its centre.
    max_shift: float = 2.0
    max_rotation: float = 10.0
    max_scale: float = 0.1
    # The training target puts this share of its weight evenly on all ten digits (0 = none).
    label_smoothing: float = 0.1
    # The exported weights are an exponential moving average of the weights over the steps, each
    # step keeping this share of the average (0.999: about the last 1,000 steps), rather than the
    # last step's (0 = no averaging). Keras's `use_ema`, its momentum warmed up from the first step
    # (components/model.py `AveragingAdam`); BatchNorm is recalibrated afterwards.
    weight_averaging: float = 0.999
    seed: int = 42
    # Fraction of training labels shuffled among themselves before training: a deliberately
    # bad model, for checking that the model gate refuses it. 0 in any real run.
    label_noise: float = 0.0
    # Compute precision of training. bfloat16 computes in bfloat16 with float32 weights (Keras's
    # mixed_bfloat16), about twice as fast on CPUs with native bfloat16 (AVX-512 BF16, AMX);
    # auto picks it on those CPUs only. The exported model computes in float32 either way.
    precision: str = "auto"
    # The model's own knobs (components/model.py): the filters of the first convolution stage
    # (each later stage has twice as many), how many stages (each halves the image) and 3x3
    # convolutions in each, the dropout before the embedding and before the softmax, and whether
    # each stage pools right after its last convolution, before that one's normalisation and ReLU
    # (the same functions, for less time a step) rather than at its end.
    conv_filters: int = 32
    stages: int = 3
    convs_per_stage: int = 1
    # 0.1 since the quick slice's one epoch lost 0.012 to 0.3 (mean of 7 seeds), while all 7 epochs
    # scored the same (medians 99.60 and 99.61 %, seeds 42-44; docs/benchmark.md, T1824).
    dropout: float = 0.1
    pool_before_norm: bool = True

    def problems(self) -> list[str]:
        """What is wrong with these values, in words; empty when all is well."""
        found = []
        for key, most in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE)):
            if not 1 <= getattr(self, key) <= most:
                found.append(f"{key} must be at least 1 and at most {most:,}, got {getattr(self, key)}")
        if not 0 < self.learning_rate <= 1:  # also refuses NaN and infinity
            found.append(f"learning_rate must be positive and at most 1, got {self.learning_rate}")
        if not 0 <= self.seed <= MAX_SEED:  # what TensorFlow's and NumPy's generators accept
            found.append(f"seed must be a whole number from 0 to {MAX_SEED:,}, got {self.seed}")
        if not 0 <= self.warmup_fraction < 1:
            found.append(f"warmup_fraction must lie in [0, 1), got {self.warmup_fraction}")
        if not 0 <= self.max_shift <= 8:
            found.append(f"max_shift must lie in [0, 8] pixels, got {self.max_shift}")
        if not 0 <= self.max_rotation <= 180:
            found.append(f"max_rotation must lie in [0, 180] degrees, got {self.max_rotation}")
        if not 0 <= self.max_scale < 1:
            found.append(f"max_scale must lie in [0, 1), got {self.max_scale}")
        if not 0 <= self.label_smoothing < 1:
            found.append(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.weight_averaging < 1:
            found.append(f"weight_averaging must lie in [0, 1), got {self.weight_averaging}")
        if not 0 <= self.label_noise <= 1:
            found.append(f"label_noise must lie in [0, 1], got {self.label_noise}")
        if not 1 <= self.conv_filters <= MAX_CONV_FILTERS:
            found.append(f"conv_filters must be at least 1 and at most {MAX_CONV_FILTERS}, got {self.conv_filters}")
        if not 1 <= self.stages <= MAX_STAGES:
            found.append(f"stages must be at least 1 and at most {MAX_STAGES} (28x28 halved to 1x1), got {self.stages}")
        if not 1 <= self.convs_per_stage <= MAX_CONVS_PER_STAGE:
            found.append(f"convs_per_stage must be at least 1 and at most {MAX_CONVS_PER_STAGE}, "
                         f"got {self.convs_per_stage}")
        if not 0 <= self.dropout < 1:
            found.append(f"dropout must lie in [0, 1), got {self.dropout}")
        if not isinstance(self.pool_before_norm, bool):  # e.g. from a custom_config written by hand
            found.append(f"pool_before_norm must be true or false, "  # type: ignore[unreachable]
                         f"got {self.pool_before_norm!r}")
        if self.precision not in PRECISIONS:
            found.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        return found

    def architecture(self) -> dict[str, Any]:
        """The model's knobs, as components/model.py's builders take them."""
        return {"conv_filters": self.conv_filters, "stages": self.stages, "convs_per_stage": self.convs_per_stage,
                "dropout": self.dropout, "pool_before_norm": self.pool_before_norm}

    def to_custom_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_settings(self, settings: Mapping[str, Any]) -> Recipe:
        """This recipe with some of its values replaced (the Tuner's best hyperparameters);
        refuses a name that is not the recipe's, and values out of range."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a setting of the training recipe")
        recipe = dataclasses.replace(self, **{k: type(getattr(self, k))(v) for k, v in settings.items()})
        if recipe.problems():
            raise ValueError("; ".join(recipe.problems()))
        return recipe

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any]) -> Recipe:
        """The recipe a Trainer was given; `custom_config` may hold other keys besides."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in custom_config]
        if missing:
            raise ValueError(f"the Trainer's custom_config lacks the recipe's {', '.join(missing)}")
        recipe = cls(**{name: custom_config[name] for name in names})
        if recipe.problems():
            raise ValueError("; ".join(recipe.problems()))
        return recipe


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (Linux's /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def compute_precision(recipe: Recipe) -> str:
    if recipe.precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return recipe.precision
