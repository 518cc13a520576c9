"""The Tuner component: KerasTuner's random search over the recipe's and the model's knobs
(components/tuning.py), each trial trained exactly as the Trainer trains (`training.train`).

- `tuner_fn` is TFX's entry point: it loads the training split (transformed as the Trainer loads
  it), holds out a fixed share of it to score the trials, and returns the KerasTuner tuner.
- `Executor` is TFX's Tuner executor, plus: with `tune_trials` 0 it does not search and hands the
  recipe's own values on (a default run pays nothing for the Tuner); it writes every trial (its
  settings, holdout accuracy, seconds, state) to `tuner_results.json` in the TunerResults
  artifact, and records the table and the winner as properties in MLMD: `trials`, `best_trial`,
  `best_score` on the TunerResults, `settings` on the HyperParameters the Trainer takes.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import keras_tuner
import numpy as np
import tensorflow_transform as tft
from tfx.components.trainer import fn_args_utils
from tfx.components.tuner import executor as tuner_executor
from tfx.components.tuner.component import TunerFnResult
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from components import training, tuning
from components.recipe import Recipe

log = logging.getLogger(__name__)

OBJECTIVE = "holdout_accuracy"
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"  # the name TFX's Trainer expects beside nothing else
RESULTS_FILE = "tuner_results.json"


def search_space(recipe: Recipe) -> keras_tuner.HyperParameters:
    """The knobs as KerasTuner choices, each defaulting to the recipe's value."""
    space = keras_tuner.HyperParameters()
    for name, choices in tuning.choices_around(recipe).items():
        space.Choice(name, list(choices), default=getattr(recipe, name))
    return space


class RecipeSearch(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the recipe as configured, and which starts no trial
    once the time budget is spent."""

    def __init__(self, first_values: dict[str, Any], deadline: float, **kwargs):
        super().__init__(**kwargs)
        self.first_values, self.deadline = first_values, deadline

    def populate_space(self, trial_id):
        if time.monotonic() >= self.deadline:
            log.info("tuning: the time budget is spent, no further trial (tuning)")
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        if not self.trials:  # KerasTuner records a trial's values once it runs: no repeat later
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": dict(self.first_values)}
        return super().populate_space(trial_id)


class RecipeTuner(keras_tuner.Tuner):
    """Each trial: the recipe with the trial's values, trained by `training.train` on the
    training images less the holdout, scored by accuracy on the holdout."""

    def __init__(self, recipe: Recipe, max_trials: int, **kwargs):
        super().__init__(**kwargs)
        self.recipe, self.max_trials = recipe, max_trials
        self.records: list[dict[str, Any]] = []

    def run_trial(self, trial, train_split, holdout, **_):
        settings = dict(trial.hyperparameters.values)
        number = len(self.records) + 1
        started = time.monotonic()
        try:
            model, _ = training.train(self.recipe.with_settings(settings), train_split)
            score, state = training.accuracy(model, *holdout), "COMPLETED"
        except training.TrainingDivergedError as err:
            score, state = 0.0, f"DIVERGED: {err}"
        record = {"trial": number, "trial_id": trial.trial_id, "settings": settings, "score": round(score, 6),
                  "seconds": round(time.monotonic() - started, 1), "state": state}
        self.records.append(record)
        log.info("trial %d/%d  %s  holdout accuracy %.4f%s  (%.1f s)", number, self.max_trials,
                 " ".join(f"{k}={v}" for k, v in settings.items()), score,
                 "" if state == "COMPLETED" else " (diverged)", record["seconds"])
        return {OBJECTIVE: score}


def holdout_split(images: np.ndarray, labels: np.ndarray, seed: int):
    """(train, holdout): a fixed, seeded share of the training split held out to score trials."""
    order = np.random.default_rng(seed).permutation(len(labels))
    count = max(1, int(round(tuning.HOLDOUT_FRACTION * len(labels))))
    held, kept = order[:count], order[count:]
    return (images[kept], labels[kept]), (images[held], labels[held])


def tuner_fn(fn_args: fn_args_utils.FnArgs) -> TunerFnResult:
    """TFX's entry point: the tuner, and what its `search` is called with."""
    from components import trainer

    recipe = Recipe.from_custom_config(fn_args.custom_config)
    budget = tuning.Budget.from_custom_config(fn_args.custom_config)
    images, labels = trainer.load_split(fn_args, fn_args.train_files,
                                        tft.TFTransformOutput(fn_args.transform_graph_path))
    train_split, holdout = holdout_split(images, labels, recipe.seed)
    log.info("tuning: up to %d trials or %g minutes; each trains on %d images, scored on %d held out (tuning)",
             budget.trials, budget.minutes, len(train_split[1]), len(holdout[1]))
    space = search_space(recipe)
    oracle = RecipeSearch(first_values=space.values, deadline=time.monotonic() + 60 * budget.minutes,
                          objective=keras_tuner.Objective(OBJECTIVE, "max"), max_trials=budget.trials,
                          hyperparameters=space, seed=recipe.seed, allow_new_entries=False, tune_new_entries=False)
    tuner = RecipeTuner(recipe, budget.trials, oracle=oracle, directory=fn_args.working_dir,
                        project_name="search", overwrite=True)
    return TunerFnResult(tuner=tuner, fit_kwargs={"train_split": train_split, "holdout": holdout, "verbose": 0})


def _write(output_dict, key: str, name: str, content: str):
    artifact = artifact_utils.get_single_instance(output_dict[key])
    io_utils.write_string_file(os.path.join(artifact.uri, name), content)
    return artifact


class Executor(tuner_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:
        custom_config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}")
        recipe = Recipe.from_custom_config(custom_config)
        budget = tuning.Budget.from_custom_config(custom_config)
        if budget.trials:
            started = time.monotonic()
            tuner = tuner_executor.search(input_dict, exec_properties, self._get_tmp_dir(), print_tuning_summary=False)
            best = tuner.get_best_hyperparameters()[0]
            records = tuner.records
            [winner] = [r for r in records if r["trial_id"] == tuner.oracle.get_best_trials(1)[0].trial_id]
            log.info("tuning: trial %d of %d won, holdout accuracy %.4f, in %.0f s (tuning)", winner["trial"],
                     len(records), winner["score"], time.monotonic() - started)
        else:
            best, records, winner = search_space(recipe), [], None
            log.info("tuning off (tune_trials 0): the recipe's own values go to the Trainer")
        settings = dict(best.values)
        hyperparameters = _write(output_dict, standard_component_specs.BEST_HYPERPARAMETERS_KEY,
                                 BEST_HYPERPARAMETERS_FILE, json.dumps(best.get_config()))
        hyperparameters.set_string_custom_property("settings", json.dumps(settings, sort_keys=True))
        results = _write(output_dict, standard_component_specs.TUNER_RESULTS_KEY, RESULTS_FILE, json.dumps(records))
        results.set_string_custom_property("trials", json.dumps(records))
        results.set_int_custom_property("trial_count", len(records))
        if winner:
            results.set_int_custom_property("best_trial", winner["trial"])
            results.set_float_custom_property("best_score", winner["score"])
