import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from components import model as model_lib
from components import training
from components.recipe import PRESETS, Recipe


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


def _slice(train_count: int, eval_count: int):
    from pipeline.data.sources import load_bundled

    splits = load_bundled()
    train, test = splits["train"].head(train_count), splits["eval"].head(eval_count)
    return ((train.images[..., None].astype(np.float32) / 255.0, train.labels),
            (test.images[..., None].astype(np.float32) / 255.0, test.labels))


def test_the_fast_preset_trains_a_model_that_learns(home):
    from pipeline.config import load_config

    recipe = load_config(overrides={"preset": "fast", "precision": "float32"}, home=home).recipe()
    assert recipe.epochs == PRESETS["fast"]["epochs"] < Recipe().epochs
    train_split, test_split = _slice(1000, 500)
    model, history = training.train(recipe, train_split)
    assert len(history["loss"]) == recipe.epochs
    assert training.accuracy(model, *test_split) > 0.85


def test_the_same_seed_trains_bit_identical_weights_with_every_augmentation_on():
    recipe = Recipe(epochs=1, batch_size=64, precision="float32", max_shift=2, max_rotation=10, max_scale=0.1,
                    label_smoothing=0.1)
    train_split, _ = _slice(256, 1)
    first, second = (training.train(recipe, train_split)[0].get_weights() for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    other = training.train(dataclasses.replace(recipe, seed=recipe.seed + 1), train_split)[0].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_distortion_turns_and_scales_about_the_centre_and_is_none_at_zero():
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 12:16, 12:16] = 1.0  # a square at the centre
    seed = tf.constant([1, 2], tf.int64)
    unchanged = training.distort_images(images, Recipe(max_shift=0, max_rotation=0, max_scale=0), seed)
    np.testing.assert_allclose(unchanged, images, atol=1e-6)
    # Turned and scaled only: the ink stays centred, some squares come out turned or resized.
    turned = training.distort_images(images, Recipe(max_shift=0, max_rotation=30, max_scale=0.2), seed).numpy()
    rows = np.arange(28)[None, :, None, None]
    centre_of_ink = (turned * rows).sum(axis=(1, 2, 3)) / turned.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(centre_of_ink, 13.5, atol=0.05)
    assert np.mean(np.abs(turned - images).max(axis=(1, 2, 3)) > 0.05) > 0.8


def test_an_aligned_array_is_read_in_place_and_any_other_is_copied():
    # The training reads the 60,000 images in place, not from a copy beside them (`shared_tensor`).
    aligned = training.aligned_empty((64, 28, 28, 1))
    assert aligned.ctypes.data % training.TENSOR_ALIGNMENT == 0 and aligned.flags.c_contiguous
    aligned[...] = 1.0
    shared = training.shared_tensor(aligned)
    aligned[0] = 2.0  # seen through the tensor: the same memory
    assert float(tf.reduce_max(shared)) == 2.0
    # Misaligned (or strided) arrays would abort the process if handed over in place: copied instead.
    misaligned = np.frombuffer(bytearray(4 * 785), np.float32, offset=4)  # 16-byte aligned + 4
    assert misaligned.ctypes.data % training.TENSOR_ALIGNMENT != 0
    copied = training.shared_tensor(misaligned)
    misaligned_view = np.ones(10, np.float32)[::2]
    assert training.shared_tensor(misaligned_view).shape == (5,)
    np.testing.assert_array_equal(copied.numpy(), misaligned)


def test_the_datasets_keras_reads_run_without_autotuning():
    # An ended iterator waits for autotuning's sleeping thread before it is freed: seconds lost at
    # the end of every epoch, validation and predict (components/training.py `without_autotune`).
    images, labels = np.zeros((8, 28, 28, 1), np.float32), np.arange(8) % 10
    for dataset in (training.training_data(Recipe(), images, labels), training.batches((images, labels)),
                    training.batches(images)):
        assert dataset.options().autotune.enabled is False
    model = model_lib.build_model()
    assert training.predict(model, images).shape == (8, 10)


def test_weight_averaging_exports_the_moving_average_of_the_weights_warmed_up_from_the_first_step():
    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((80, 28, 28, 1), np.float32)
    y = np.arange(80) % 10
    model = model_lib.build_model(learning_rate=0.01, weight_averaging=0.6)
    steps = []

    class Record(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append([v.numpy() for v in self.model.trainable_variables])

    initial = [v.numpy() for v in model.trainable_variables]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[Record()])
    expected = initial
    for step, weights in enumerate(steps):  # at step n the momentum is min(0.6, (1 + n) / (10 + n))
        momentum = min(0.6, (1 + step) / (10 + step))
        expected = [momentum * e + (1 - momentum) * w for e, w in zip(expected, weights)]
    assert len(steps) == 5
    for exported, average in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(exported.numpy(), average, rtol=1e-5, atol=1e-6)
    assert not all(np.allclose(e.numpy(), last) for e, last in zip(model.trainable_variables, steps[-1]))
    assert Recipe(weight_averaging=1.0).problems() == ["weight_averaging must lie in [0, 1), got 1.0"]
