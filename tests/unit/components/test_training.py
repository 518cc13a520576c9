import numpy as np
import pytest
import tensorflow as tf

from components import model as model_lib
from components import training


def test_shuffled_labels_keep_their_distribution():
    labels = np.arange(1000) % 10
    noisy = training.shuffle_labels(labels, 1.0, seed=0)
    assert sorted(noisy) == sorted(labels)
    assert np.mean(noisy == labels) < 0.2
    assert training.shuffle_labels(labels, 0.0, seed=0) is labels
    half = training.shuffle_labels(labels, 0.5, seed=0)
    assert np.mean(half == labels) > 0.5


def test_a_diverging_training_fails_with_a_clear_message():
    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((256, 28, 28, 1), np.float32)
    y = np.arange(256) % 10
    model = model_lib.build_model(learning_rate=1e9)
    with pytest.raises(training.TrainingDivergedError, match="training diverged .* Lower learning_rate"):
        model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[training.DivergenceGuard(1e9)])


def test_guard_stops_on_nan_and_on_explosion():
    guard = training.DivergenceGuard(0.1)
    guard.set_model(tf.keras.Sequential())
    guard.on_train_batch_end(0, {"loss": 2.3})
    guard.on_train_batch_end(1, {"loss": 50.0})  # bad, but not 100x
    with pytest.raises(training.TrainingDivergedError, match="loss nan"):
        guard.on_train_batch_end(2, {"loss": float("nan")})
    with pytest.raises(training.TrainingDivergedError, match="loss 1e\\+04"):
        guard.on_train_batch_end(3, {"loss": 1e4})
