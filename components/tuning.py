"""What the Tuner searches and how much it may spend: the search space over the recipe's knobs
(components/recipe.py, the model's among them) and the budget. Imports no TensorFlow:
`PipelineConfig` checks the budget at the door, and the Tuner (components/tuner.py) reads both.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from components.recipe import Recipe

# Recipe setting -> the values tried. Small on purpose: each trial is a whole training. The
# recipe's own value (the default, or what the config sets) is always among them, and the first
# trial is the recipe as configured, so the winner is never worse than it on the holdout.
SEARCH_SPACE: dict[str, tuple] = {
    "learning_rate": (0.004, 0.008, 0.016),
    "batch_size": (64, 128, 256),
    "max_shift": (1.0, 2.0, 3.0),
    "max_rotation": (0.0, 10.0, 15.0),
    # The model's knobs (components/model.py): the first stage's filters (each later stage has
    # twice as many), the stages and the convolutions in each, and the dropout.
    "conv_filters": (16, 32, 48),
    "stages": (2, 3),
    "convs_per_stage": (1, 2),
    "dropout": (0.0, 0.1, 0.2),
}
# Trials train on the training split less this share, held out (the same images for every trial)
# to score them: the eval split stays unseen until the Evaluator judges the final model.
HOLDOUT_FRACTION = 0.2
MAX_TRIALS = 100
MAX_MINUTES = 24 * 60


@dataclasses.dataclass(frozen=True)
class Budget:
    trials: int = 0  # 0: no search, the recipe as configured goes to the Trainer
    minutes: float = 60.0  # no trial starts after this many minutes of search (one may run past it)

    def problems(self) -> list[str]:
        found = []
        if not 0 <= self.trials <= MAX_TRIALS:
            found.append(f"tune_trials must be 0 (no search) or a count up to {MAX_TRIALS}, got {self.trials}")
        if not 0 < self.minutes <= MAX_MINUTES:  # also refuses NaN
            found.append(f"tune_minutes must be above 0 and at most {MAX_MINUTES:,}, got {self.minutes}")
        return found

    def to_custom_config(self) -> dict[str, Any]:
        return {"tune_trials": self.trials, "tune_minutes": self.minutes}

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any]) -> Budget:
        missing = [key for key in ("tune_trials", "tune_minutes") if key not in custom_config]
        if missing:
            raise ValueError(f"the Tuner's custom_config lacks {', '.join(missing)}")
        return cls(int(custom_config["tune_trials"]), float(custom_config["tune_minutes"]))


def choices_around(recipe: Recipe) -> dict[str, tuple]:
    """The search space with the recipe's own value of each knob among its choices (sorted)."""
    return {name: tuple(sorted(set(values) | {getattr(recipe, name)})) for name, values in SEARCH_SPACE.items()}


def searched_settings(recipe: Recipe) -> dict[str, Any]:
    """The recipe's values of the searched knobs: what the Tuner hands on when it does not search."""
    return {name: getattr(recipe, name) for name in SEARCH_SPACE}
