"""The digit classifier: a convolutional feature extractor and a small classifier head.

The two are separate Keras models so the extractor (image -> 128-d embedding) can be reused on
its own, for transfer learning or similarity search; the Trainer exports it beside the model.
"""
import numpy as np
import tensorflow as tf
from tensorflow.python.autograph.core import config as autograph_config

from components import features
from components.recipe import Recipe

EMBEDDING_SIZE = 128


def _skip_autograph_for_legacy_keras() -> None:
    """Let tf.function trace tf_keras's code as written, as TensorFlow does for `keras`.

    Autograph leaves the `keras` package alone (its code needs no conversion) but, in TF 2.16,
    not `tf_keras`, the same Keras 2 code under the name TFX needs (TF_USE_LEGACY_KERAS=1). It
    then rewrote Keras's train step, every layer, the loss and the optimizer: 15 of the 19 s of
    the quick slice's one epoch, for bit-identical weights.
    """
    rule = autograph_config.DoNotConvert("tf_keras")
    if not any(r.matches("tf_keras") for r in autograph_config.CONVERSION_RULES if isinstance(r, type(rule))):
        autograph_config.CONVERSION_RULES = (rule, *autograph_config.CONVERSION_RULES)


_skip_autograph_for_legacy_keras()


def _stage(x, filters: int, convolutions: int, pool_before_norm: bool):
    """3x3 convolutions at one resolution, each followed by batch normalisation and a ReLU, and
    2x2 max pooling: at the stage's end or, with `pool_before_norm`, right after its last
    convolution, so that its normalisation and ReLU see a quarter of the values (12 % less time
    a step for the default, float32; max pooling commutes with a ReLU and with a normalisation
    of positive scale, so the model can learn the same functions)."""
    for index in range(convolutions):
        x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        last = index == convolutions - 1
        if last and pool_before_norm:
            x = tf.keras.layers.MaxPooling2D()(x)
        # momentum 0.9 rather than Keras's 0.99: the moving statistics settle within a few dozen
        # steps, so even a one-epoch run on a small slice evaluates sensibly.
        x = tf.keras.layers.BatchNormalization(momentum=0.9)(x)
        x = tf.keras.layers.ReLU()(x)
        if last and not pool_before_norm:
            x = tf.keras.layers.MaxPooling2D()(x)
    return x


def build_feature_extractor(conv_filters: int = Recipe.conv_filters, stages: int = Recipe.stages,
                            convs_per_stage: int = Recipe.convs_per_stage, dropout: float = Recipe.dropout,
                            pool_before_norm: bool = Recipe.pool_before_norm) -> tf.keras.Model:
    """Image [28, 28, 1] in [0, 1] -> EMBEDDING_SIZE embedding: `stages` stages, each halving the
    image (28 -> 14 -> 7 -> 3) with twice the filters of the one before, `conv_filters` in the
    first; then dropout and the dense embedding. The defaults are the recipe's
    (components/recipe.py); the Tuner searches them."""
    size = features.IMAGE_SIZE
    image = tf.keras.Input(shape=(size, size, 1), name=features.TRANSFORMED_IMAGE_KEY)
    x = image
    for stage in range(stages):
        x = _stage(x, conv_filters * 2**stage, convs_per_stage, pool_before_norm)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dropout(dropout)(x)
    x = tf.keras.layers.Dense(EMBEDDING_SIZE, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9)(x)
    embedding = tf.keras.layers.ReLU(name="embedding")(x)
    return tf.keras.Model(image, embedding, name="feature_extractor")


def build_classifier_head(dropout: float = Recipe.dropout) -> tf.keras.Model:
    embedding = tf.keras.Input(shape=(EMBEDDING_SIZE,), name="embedding")
    x = tf.keras.layers.Dropout(dropout)(embedding)
    # float32 whatever the compute precision: the softmax and the loss need its range.
    probabilities = tf.keras.layers.Dense(features.NUM_CLASSES, activation="softmax", name="probabilities",
                                          dtype="float32")(x)
    return tf.keras.Model(embedding, probabilities, name="classifier_head")


def _architecture(conv_filters: int = Recipe.conv_filters, stages: int = Recipe.stages,
                  convs_per_stage: int = Recipe.convs_per_stage, dropout: float = Recipe.dropout,
                  pool_before_norm: bool = Recipe.pool_before_norm) -> tf.keras.Model:
    extractor = build_feature_extractor(conv_filters, stages, convs_per_stage, dropout, pool_before_norm)
    head = build_classifier_head(dropout)
    image = tf.keras.Input(shape=extractor.input_shape[1:], name=features.TRANSFORMED_IMAGE_KEY)
    return tf.keras.Model(image, head(extractor(image)), name="digit_classifier")


def build_model(learning_rate=0.003, label_smoothing: float = 0.0, weight_averaging: float = 0.0,
                **architecture) -> tf.keras.Model:
    """Extractor + head, compiled with Adam at `learning_rate` (a number or a schedule) and the
    cross-entropy against labels smoothed by `label_smoothing`, in the global Keras precision
    policy. With `weight_averaging` (an exponential moving average's momentum, 0 = none), Keras's
    `fit` ends by setting the weights to their average. `architecture`: the knobs of
    `build_feature_extractor` (a Recipe's `architecture()`)."""
    model = _architecture(**architecture)
    model.compile(
        optimizer=(AveragingAdam(learning_rate, use_ema=True, ema_momentum=weight_averaging) if weight_averaging
                   else tf.keras.optimizers.Adam(learning_rate)),
        loss=SmoothedSparseCrossentropy(label_smoothing),
        metrics=[tf.keras.metrics.deserialize(features.ACCURACY_METRIC)],
    )
    return model


@tf.keras.utils.register_keras_serializable(package="mnist_pipeline")
class AveragingAdam(tf.keras.optimizers.Adam):
    """Adam keeping an exponential moving average of the weights (`use_ema`), whose momentum
    warms up as in TensorFlow's ExponentialMovingAverage with `num_updates`: at step n it is at
    most (1 + n) / (10 + n). Keras's own starts from the initial weights at full momentum, so
    that a short run (the quick slice's 24 steps) would end near its random initial weights."""

    def _update_model_variables_moving_average(self, var_list):
        steps = tf.cast(self.iterations, tf.float32)
        momentum = tf.minimum(tf.cast(self.ema_momentum, tf.float32), (1.0 + steps) / (10.0 + steps))
        for var in var_list:
            average = self._model_variables_moving_average[self._index_dict[self._var_key(var)]]
            average.assign(momentum * average + (1.0 - momentum) * var)


@tf.keras.utils.register_keras_serializable(package="mnist_pipeline")
class SmoothedSparseCrossentropy(tf.keras.losses.Loss):
    """Cross-entropy against integer labels, smoothed: the target puts `smoothing` of its weight
    evenly on all classes. Keras's sparse cross-entropy has no smoothing; 0 is exactly it."""

    def __init__(self, smoothing: float = 0.0, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        if not self.smoothing:
            return tf.keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        targets = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), tf.shape(y_pred)[-1], dtype=y_pred.dtype)
        return tf.keras.losses.categorical_crossentropy(targets, y_pred, label_smoothing=self.smoothing)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


def float32_copy(model: tf.keras.Model, **architecture) -> tf.keras.Model:
    """The same model computing in float32 (uncompiled), e.g. of one trained in bfloat16: what
    is exported, so that serving and evaluation do not depend on the CPU having bfloat16. The
    architecture's knobs must be those `model` was built with."""
    copy = _architecture(**architecture)
    copy.set_weights(model.get_weights())
    return copy


def feature_extractor_of(model: tf.keras.Model) -> tf.keras.Model:
    return model.get_layer("feature_extractor")


def output_layer(model: tf.keras.Model) -> tf.keras.layers.Dense:
    """The head's last layer: a Dense layer with a softmax, whose outputs are the probabilities."""
    return model.get_layer("classifier_head").get_layer("probabilities")


def multiply_adds(model: tf.keras.Model) -> int:
    """Multiply-adds of one image's forward pass through `model` (nested models included):
    convolutions (H_out * W_out * k * k * C_in * C_out; depthwise and separable ones by their
    parts) and dense layers (inputs * units). Batch normalisation, activations and pooling, a few
    operations per value without weights, are not counted."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, (tf.keras.layers.SeparableConv2D, tf.keras.layers.DepthwiseConv2D)):
            height, width, _ = layer.output_shape[1:]
            channels = layer.input_shape[-1] * layer.depth_multiplier
            total += height * width * int(np.prod(layer.kernel_size)) * channels
            if isinstance(layer, tf.keras.layers.SeparableConv2D):
                total += height * width * channels * layer.filters
        elif isinstance(layer, tf.keras.layers.Conv2D):
            height, width, filters = layer.output_shape[1:]
            total += height * width * int(np.prod(layer.kernel_size)) * layer.input_shape[-1] * filters
        elif isinstance(layer, tf.keras.layers.Dense):
            total += layer.input_shape[-1] * layer.units
    return int(total)
