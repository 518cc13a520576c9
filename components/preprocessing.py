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


def preprocessing_fn(inputs):
    raw = _dense_vector(inputs[features.IMAGE_KEY], b"")
    pixels = tf.io.decode_raw(raw, tf.uint8)  # [batch, 784]; every image must hold 784 bytes
    size = features.IMAGE_SIZE
    image = tf.reshape(tf.cast(pixels, tf.float32) / 255.0, [-1, size, size, 1])
    outputs = {features.TRANSFORMED_IMAGE_KEY: image}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = tf.cast(_dense_vector(inputs[features.LABEL_KEY], -1), tf.int64)
    return outputs
