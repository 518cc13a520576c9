import numpy as np
import tensorflow as tf

from components import model as model_lib
from pipeline.data.sources import load_bundled


def test_extractor_and_head_compose_into_a_probability_model():
    model = model_lib.build_model()
    probabilities = model(np.zeros((4, 28, 28, 1), np.float32), training=False).numpy()
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    extractor = model_lib.feature_extractor_of(model)
    assert extractor.output_shape == (None, model_lib.EMBEDDING_SIZE)
    # The extractor is a model of its own, reusable without the head.
    assert isinstance(extractor, tf.keras.Model) and extractor.name == "feature_extractor"


def test_a_short_training_on_real_digits_learns():
    tf.keras.utils.set_random_seed(0)
    split = load_bundled()["train"].head(1024)
    x = split.images[..., None].astype(np.float32) / 255.0
    model = model_lib.build_model(0.003)
    before = model.evaluate(x, split.labels, verbose=0)[0]
    model.fit(x, split.labels, batch_size=32, epochs=2, verbose=0)
    after, accuracy = model.evaluate(x, split.labels, verbose=0)
    assert after < before / 2
    assert accuracy > 0.8
