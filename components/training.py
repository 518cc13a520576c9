"""How the model is trained: the recipe (components/recipe.py) carried out on in-memory arrays.

One function, `train`, used by the Trainer's run_fn and by the benchmark's bare-Keras baseline,
so the two train the same model the same way: a one-cycle learning rate (linear warm-up, cosine
decay), random shifts, turns and scalings of the training images, and bfloat16 compute where the
CPU has it.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time

import numpy as np
import tensorflow as tf

from components import features
from components import model as model_lib
from components.recipe import Recipe, compute_precision

log = logging.getLogger(__name__)


class OneCycle(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then cosine decay to 0 at `total_steps`."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, max(1, warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        rising = self.peak * (step + 1.0) / warmup
        progress = tf.clip_by_value((step - warmup) / max(1.0, self.total_steps - self.warmup_steps), 0.0, 1.0)
        falling = self.peak * 0.5 * (1.0 + tf.cos(math.pi * progress))
        return tf.where(step < warmup, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def distort_images(images, recipe: Recipe, seed):
    """Each image moved by up to `max_shift` pixels each way, turned by up to `max_rotation`
    degrees and scaled by up to `max_scale` either way about its centre, each draw its own
    (bilinear, filled with paper). `seed` is a stateless seed, shape [2]."""
    count = tf.shape(images)[0]
    draws = tf.random.stateless_uniform([count, 4], seed=seed, minval=-1.0, maxval=1.0)
    shift = draws[:, :2] * recipe.max_shift
    angle = draws[:, 2:3] * (recipe.max_rotation * math.pi / 180.0)
    scale = 1.0 + draws[:, 3:4] * recipe.max_scale
    # Projective transforms [a0 a1 a2 b0 b1 b2 c0 c1]: output (x, y) reads input
    # (a0 x + a1 y + a2, b0 x + b1 y + b2): the inverse of turning and scaling about the centre,
    # then the shift.
    cos, sin, centre = tf.cos(angle) / scale, tf.sin(angle) / scale, (features.IMAGE_SIZE - 1) / 2.0
    a2 = centre - (cos - sin) * centre + shift[:, :1]
    b2 = centre - (sin + cos) * centre + shift[:, 1:]
    zeros = tf.zeros([count, 1])
    transforms = tf.concat([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")


def training_data(recipe: Recipe, images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    """Shuffled batches, distorted per the recipe; reshuffled and re-distorted every epoch, the
    same way in every run with the same seed.

    What is shuffled is the images' indices, and each batch is gathered from the images, rather
    than a shuffle buffer of the images themselves: the same order and bit-identical weights, 35 MB
    less at the peak (2 epochs on all 60,000 images, float32: 1,733 against 1,768 MB RSS), the
    same time."""
    images, labels = shared_tensor(images), tf.convert_to_tensor(labels)
    indices = tf.data.Dataset.range(len(labels)).shuffle(
        len(labels), seed=recipe.seed, reshuffle_each_iteration=True).batch(recipe.batch_size)
    if recipe.max_shift or recipe.max_rotation or recipe.max_scale:
        seeds = tf.data.Dataset.random(seed=recipe.seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((indices, seeds)).map(
            lambda batch, seed: (distort_images(tf.gather(images, batch), recipe, seed), tf.gather(labels, batch)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        dataset = indices.map(lambda batch: (tf.gather(images, batch), tf.gather(labels, batch)))
    return without_autotune(dataset.prefetch(tf.data.AUTOTUNE))


# TensorFlow reads a tensor's memory in place only at this alignment (Eigen's widest, AVX-512's 64
# bytes); a misaligned one makes `from_dlpack` abort the process, not raise.
TENSOR_ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts at a TENSOR_ALIGNMENT boundary
    (`shared_tensor` can then hand it to TensorFlow without a copy)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + TENSOR_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % TENSOR_ALIGNMENT
    return raw[start:start + size].view(dtype).reshape(shape)


def shared_tensor(array: np.ndarray) -> tf.Tensor:
    """`array` as a tensor over the same memory (DLPack) where TensorFlow can read it in place (an
    aligned, C-contiguous array: `aligned_empty`); else a copy, as `tf.convert_to_tensor` makes.

    The copy is dearer than it looks: converting 60,000 images (184 MB as float32) raised the
    process's private memory by 370 MB, while the array stayed in use beside it."""
    if array.flags.c_contiguous and array.ctypes.data % TENSOR_ALIGNMENT == 0:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.convert_to_tensor(array)


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuning off (AUTOTUNE's parallelism and buffers then take
    tf.data's fixed defaults).

    Autotuning runs a background thread that sleeps between rounds, for longer and longer, and an
    iterator that has ended waits for it before it is freed: Keras frees one at the end of every
    epoch, every validation and every `predict`. Measured here: 3.3-3.6 s lost after 4 of 10
    epochs of 15,360 images (26 ms a step either way), none with autotuning off.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def batches(arrays, batch_size: int = 1024) -> tf.data.Dataset:
    """In-memory `arrays` (one array, or a tuple of them) in batches, for Keras's validation and
    `predict`: without autotuning, unlike the datasets Keras makes of arrays itself."""
    tensors = tf.nest.map_structure(shared_tensor, arrays)
    return without_autotune(tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size))


def predict(model: tf.keras.Model, images: np.ndarray) -> np.ndarray:
    """`model`'s outputs for in-memory `images`."""
    return model.predict(batches(images), verbose=0)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN, infinite or exploded: no model is exported."""


class DivergenceGuard(tf.keras.callbacks.Callback):
    """Stops training, with a message a person can act on, when the loss diverges."""

    def __init__(self, learning_rate: float, explosion_factor: float = 100.0):
        super().__init__()
        self.learning_rate = learning_rate
        self.explosion_factor = explosion_factor
        self.first_loss: float | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if self.first_loss is None and np.isfinite(loss):
            self.first_loss = max(loss, 1.0)
        if not np.isfinite(loss) or (self.first_loss and loss > self.explosion_factor * self.first_loss):
            self.model.stop_training = True
            raise TrainingDivergedError(
                f"training diverged in epoch {self.epoch + 1}, step {batch + 1}: loss {loss:.4g} "
                f"(first loss {self.first_loss or float('nan'):.4g}); no model was exported. "
                f"Lower learning_rate (now {self.learning_rate}) or check the data.")


class EpochLog(tf.keras.callbacks.Callback):
    """One log line per epoch instead of Keras's per-step progress bar."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items()))
        log.info("epoch %d/%d  %s  (%.1f s)", epoch + 1, self.epochs, metrics, time.monotonic() - self.started)


def shuffle_labels(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Shuffle a `fraction` of the labels among themselves (the label distribution is kept)."""
    if not fraction:
        return labels
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[chosen] = rng.permutation(labels[chosen])
    return noisy


def recalibrate_batchnorm(model: tf.keras.Model, images: np.ndarray, sample: int = 4096) -> None:
    """Set every BatchNormalization layer's moving mean and variance to the statistics of the
    final weights on `sample` training images.

    During training the moving averages trail the weights; on a short run (the quick slice: 24
    steps of 128) they never catch up and the model evaluates near chance although it trained
    well. One pass over a sample costs about a second.
    """
    layers = [layer for layer in _all_layers(model) if isinstance(layer, tf.keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        model(images[:sample], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def _all_layers(model: tf.keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, tf.keras.Model):
            yield from _all_layers(layer)


@contextlib.contextmanager
def _deterministic():
    """TensorFlow's op determinism while training: the same recipe, data and seed give identical
    weights. It cost nothing measurable here (README, "Reproducibility"). Switched off again
    afterwards, since other components that run in the same process draw unseeded random numbers,
    which determinism refuses."""
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


@contextlib.contextmanager
def _precision(precision: str):
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def train(recipe: Recipe, train_split: tuple[np.ndarray, np.ndarray],
          eval_split: tuple[np.ndarray, np.ndarray] | None = None, callbacks=()) -> tuple[tf.keras.Model, dict]:
    """The model trained by the recipe, computing in float32 (whatever precision trained it),
    and Keras's history. Images are float32 [N, 28, 28, 1] in [0, 1]."""
    images, labels = train_split
    tf.keras.utils.set_random_seed(recipe.seed)
    if recipe.label_noise:
        log.warning("label_noise=%s: shuffling that share of the training labels on purpose", recipe.label_noise)
        labels = shuffle_labels(labels, recipe.label_noise, recipe.seed)
    precision = compute_precision(recipe)
    steps = recipe.epochs * -(-len(labels) // recipe.batch_size)
    schedule = OneCycle(recipe.learning_rate, steps, int(recipe.warmup_fraction * steps))
    log.info("training on %d examples, %d epochs of batch %d, %s compute", len(labels), recipe.epochs,
             recipe.batch_size, precision)
    with _deterministic(), _precision(precision):
        model = model_lib.build_model(schedule, recipe.label_smoothing, recipe.weight_averaging,
                                      **recipe.architecture())
        history = model.fit(training_data(recipe, images, labels), epochs=recipe.epochs, verbose=0,
                            validation_data=batches(eval_split) if eval_split is not None else None,
                            callbacks=[DivergenceGuard(recipe.learning_rate), EpochLog(recipe.epochs), *callbacks])
        recalibrate_batchnorm(model, images)
    if precision != "float32":
        model = model_lib.float32_copy(model, **recipe.architecture())
    return model, {k: [float(v) for v in values] for k, values in history.history.items()}


def accuracy(model: tf.keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` whose most probable digit is their label."""
    probabilities = predict(model, images)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))
