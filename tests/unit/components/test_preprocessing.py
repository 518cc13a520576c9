import numpy as np
import tensorflow as tf

from components import features
from components.preprocessing import preprocessing_fn


def test_bytes_decode_to_images_scaled_to_unit_range():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    out = preprocessing_fn({
        features.IMAGE_KEY: tf.constant([i.tobytes() for i in images]),
        features.LABEL_KEY: tf.constant([3, 1, 4], tf.int64),
    })
    image = out[features.TRANSFORMED_IMAGE_KEY].numpy()
    assert image.shape == (3, 28, 28, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], images / 255.0, rtol=1e-6)
    assert image[0, 0, 0, 0] == 0.0 and image[0, 0, 1, 0] == 1.0
    assert out[features.LABEL_KEY].numpy().tolist() == [3, 1, 4]


def test_sparse_inputs_from_a_schema_without_shapes_work_too():
    raw = np.full((2, 784), 51, np.uint8)
    out = preprocessing_fn({
        features.IMAGE_KEY: tf.sparse.from_dense(tf.constant([[r.tobytes()] for r in raw])),
        features.LABEL_KEY: tf.sparse.from_dense(tf.constant([[7], [2]], tf.int64)),
    })
    np.testing.assert_allclose(out[features.TRANSFORMED_IMAGE_KEY].numpy(), 0.2, rtol=1e-6)
    assert out[features.LABEL_KEY].numpy().tolist() == [7, 2]


def test_serving_needs_no_label():
    out = preprocessing_fn({features.IMAGE_KEY: tf.constant([bytes(784)])})
    assert set(out) == {features.TRANSFORMED_IMAGE_KEY}
