"""The digit classifier: a convolutional feature extractor and a small classifier head.

The two are separate Keras models so the extractor (image -> 128-d embedding) can be reused on
its own, for transfer learning or similarity search; the Trainer exports it beside the model.
"""
import tensorflow as tf
from tensorflow.python.autograph.core import config as autograph_config

from components import features

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


def _conv_block(x, filters):
    for _ in range(2):
        x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        # momentum 0.9 rather than Keras's 0.99: the moving statistics settle within a few dozen
        # steps, so even a one-epoch run on a small slice evaluates sensibly.
        x = tf.keras.layers.BatchNormalization(momentum=0.9)(x)
        x = tf.keras.layers.ReLU()(x)
    return tf.keras.layers.MaxPooling2D()(x)


def build_feature_extractor(conv_filters: int = 32, dropout: float = 0.3) -> tf.keras.Model:
    """Image [28, 28, 1] in [0, 1] -> EMBEDDING_SIZE embedding. The defaults are the recipe's
    (components/recipe.py); the Tuner searches them."""
    size = features.IMAGE_SIZE
    image = tf.keras.Input(shape=(size, size, 1), name=features.TRANSFORMED_IMAGE_KEY)
    x = _conv_block(image, conv_filters)  # 14x14
    x = _conv_block(x, 2 * conv_filters)  # 7x7
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dropout(dropout)(x)
    x = tf.keras.layers.Dense(EMBEDDING_SIZE, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9)(x)
    embedding = tf.keras.layers.ReLU(name="embedding")(x)
    return tf.keras.Model(image, embedding, name="feature_extractor")


def build_classifier_head(dropout: float = 0.3) -> tf.keras.Model:
    embedding = tf.keras.Input(shape=(EMBEDDING_SIZE,), name="embedding")
    x = tf.keras.layers.Dropout(dropout)(embedding)
    # float32 whatever the compute precision: the softmax and the loss need its range.
    probabilities = tf.keras.layers.Dense(features.NUM_CLASSES, activation="softmax", name="probabilities",
                                          dtype="float32")(x)
    return tf.keras.Model(embedding, probabilities, name="classifier_head")


def _architecture(conv_filters: int = 32, dropout: float = 0.3) -> tf.keras.Model:
    extractor, head = build_feature_extractor(conv_filters, dropout), build_classifier_head(dropout)
    image = tf.keras.Input(shape=extractor.input_shape[1:], name=features.TRANSFORMED_IMAGE_KEY)
    return tf.keras.Model(image, head(extractor(image)), name="digit_classifier")


def build_model(learning_rate=0.003, conv_filters: int = 32, dropout: float = 0.3) -> tf.keras.Model:
    """Extractor + head, compiled with Adam at `learning_rate` (a number or a schedule), in the
    global Keras precision policy."""
    model = _architecture(conv_filters, dropout)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.deserialize(features.ACCURACY_METRIC)],
    )
    return model


def float32_copy(model: tf.keras.Model, conv_filters: int = 32, dropout: float = 0.3) -> tf.keras.Model:
    """The same model computing in float32 (uncompiled), e.g. of one trained in bfloat16: what
    is exported, so that serving and evaluation do not depend on the CPU having bfloat16. The
    knobs must be those `model` was built with."""
    copy = _architecture(conv_filters, dropout)
    copy.set_weights(model.get_weights())
    return copy


def feature_extractor_of(model: tf.keras.Model) -> tf.keras.Model:
    return model.get_layer("feature_extractor")
