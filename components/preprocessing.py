"""The Transform component's preprocessing_fn: raw bytes in, normalised images out.

It is traced into the transform graph, which the Trainer attaches to the exported model, so
serving applies exactly the same decoding and scaling as training.
"""
import tensorflow as tf

from components import features


def _dense_vector(value, default):
    """One value per example, whether the schema gave the feature a fixed shape or not."""
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(value, default_value=default)
    return tf.reshape(value, [-1])


def scale_pixels(pixels):
    """Pixel values 0-255 (uint8, or whole numbers as float) -> float32 in [0, 1]: the one scaling,
    used by the transform graph and by the reusable feature extractor's input layer below."""
    return tf.cast(pixels, tf.float32) / 255.0


@tf.keras.utils.register_keras_serializable(package="mnist_pipeline")
class MnistPixels(tf.keras.layers.Layer):
    """[N, 28, 28] pixel values 0-255 (a light digit on black, as MNIST) -> [N, 28, 28, 1] in [0, 1],
    as the served model's `predict_images` signature preprocesses them: rounded to whole bytes
    (what `image_raw` holds), then the transform graph's scaling. The input layer of the feature
    extractor that `pipeline.serving.extractor.load_feature_extractor` gives."""

    def call(self, images):
        values = tf.round(tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 255.0))
        return tf.expand_dims(scale_pixels(values), -1)


def preprocessing_fn(inputs):
    raw = _dense_vector(inputs[features.IMAGE_KEY], b"")
    pixels = tf.io.decode_raw(raw, tf.uint8)  # [batch, 784]; every image must hold 784 bytes
    size = features.IMAGE_SIZE
    image = tf.reshape(scale_pixels(pixels), [-1, size, size, 1])
    outputs = {features.TRANSFORMED_IMAGE_KEY: image}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = tf.cast(_dense_vector(inputs[features.LABEL_KEY], -1), tf.int64)
    return outputs
