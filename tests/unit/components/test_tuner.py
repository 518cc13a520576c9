"""The Tuner's search (components/tuner.py) and its space and budget (components/tuning.py)."""
import dataclasses
import time

import numpy as np
import pytest

from components import tuner, tuning
from components.recipe import Recipe
from pipeline.data.sources import load_bundled


def test_the_search_space_holds_recipe_settings_and_the_recipe_s_own_values():
    names = {f.name for f in dataclasses.fields(Recipe)}
    assert set(tuning.SEARCH_SPACE) <= names
    recipe = Recipe(learning_rate=0.001, conv_filters=24)
    choices = tuning.choices_around(recipe)
    for name in tuning.SEARCH_SPACE:
        assert getattr(recipe, name) in choices[name]
    assert tuner.search_space(recipe).values == tuning.searched_settings(recipe)


def test_the_recipe_takes_settings_by_name_and_refuses_others():
    recipe = Recipe().with_settings({"learning_rate": 0.012, "conv_filters": 48})
    assert (recipe.learning_rate, recipe.conv_filters, recipe.epochs) == (0.012, 48, Recipe.epochs)
    with pytest.raises(ValueError, match="no_such_knob is not a setting"):
        Recipe().with_settings({"no_such_knob": 1})
    with pytest.raises(ValueError, match="dropout must lie in"):
        Recipe().with_settings({"dropout": 1.5})


def _oracle(recipe, deadline, trials=4):
    import keras_tuner

    space = tuner.search_space(recipe)
    return tuner.RecipeSearch(first_values=space.values, deadline=deadline, max_trials=trials, hyperparameters=space,
                              objective=keras_tuner.Objective(tuner.OBJECTIVE, "max"), seed=1)


def test_the_first_trial_is_the_recipe_as_configured_then_others(tmp_path):
    recipe = Recipe(dropout=0.25)
    oracle = _oracle(recipe, time.monotonic() + 600)
    oracle._set_project_dir(str(tmp_path), "search")
    first = oracle.create_trial("t")
    assert first.hyperparameters.values == tuning.searched_settings(recipe)
    oracle.end_trial(first)
    second = oracle.create_trial("t")
    assert second.status == "RUNNING" and second.hyperparameters.values != first.hyperparameters.values


def test_no_trial_starts_once_the_time_budget_is_spent(tmp_path):
    oracle = _oracle(Recipe(), deadline=time.monotonic() - 1)
    oracle._set_project_dir(str(tmp_path), "search")
    assert oracle.create_trial("t").status == "STOPPED"


def test_the_holdout_is_fixed_by_the_seed_and_apart_from_the_training_images():
    images, labels = np.arange(100).reshape(100, 1), np.arange(100)
    (train_x, train_y), (held_x, held_y) = tuner.holdout_split(images, labels, seed=3)
    assert len(held_y) == 20 and len(train_y) == 80 and not set(held_y) & set(train_y)
    assert np.array_equal(tuner.holdout_split(images, labels, seed=3)[1][1], held_y)


def test_a_small_search_trains_every_trial_and_keeps_its_settings_score_and_time(tmp_path):
    split = load_bundled()["train"].head(600)
    images, labels = split.images[..., None].astype(np.float32) / 255.0, split.labels
    recipe = Recipe(epochs=1, batch_size=128, precision="float32")
    train_split, holdout = tuner.holdout_split(images, labels, recipe.seed)
    search = tuner.RecipeTuner(recipe, 2, oracle=_oracle(recipe, time.monotonic() + 600, trials=2),
                               directory=str(tmp_path), project_name="search", overwrite=True)
    search.search(train_split=train_split, holdout=holdout, verbose=0)
    assert [r["trial"] for r in search.records] == [1, 2]
    for record in search.records:
        assert set(record["settings"]) == set(tuning.SEARCH_SPACE)
        assert 0 <= record["score"] <= 1 and record["seconds"] > 0 and record["state"] == "COMPLETED"
    best = search.oracle.get_best_trials(1)[0]
    assert round(best.score, 6) == max(r["score"] for r in search.records)  # records keep 6 decimals
    assert search.get_best_hyperparameters()[0].values == \
        next(r["settings"] for r in search.records if r["trial_id"] == best.trial_id)
