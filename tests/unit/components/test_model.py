import dataclasses
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from components import model as model_lib
from components.recipe import Recipe
from pipeline.data.sources import load_bundled

MODEL_DOC = Path(__file__).resolve().parents[3] / "docs" / "model.md"


def test_extractor_and_head_compose_into_a_probability_model():
    model = model_lib.build_model()
    probabilities = model(np.zeros((4, 28, 28, 1), np.float32), training=False).numpy()
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    extractor = model_lib.feature_extractor_of(model)
    assert extractor.output_shape == (None, model_lib.EMBEDDING_SIZE)
    assert extractor.get_layer("embedding").output_shape == (None, model_lib.EMBEDDING_SIZE)
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


def test_multiply_adds_count_convolutions_and_dense_layers_by_their_shapes():
    image = tf.keras.Input(shape=(28, 28, 1))
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(image)  # 28*28 * 3*3 * 1*8
    x = tf.keras.layers.MaxPooling2D()(x)
    x = tf.keras.layers.SeparableConv2D(16, 3, padding="same")(x)  # 14*14 * (3*3*8 + 8*16)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="valid")(x)  # 12*12 * 3*3*16
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(10)(x)  # 12*12*16 * 10
    expected = 28 * 28 * 9 * 8 + 14 * 14 * (9 * 8 + 8 * 16) + 12 * 12 * 9 * 16 + 12 * 12 * 16 * 10
    assert model_lib.multiply_adds(tf.keras.Model(image, x)) == expected
    # The default until issue 30, two stages of two convolutions: the 18.7 M.
    old = Recipe(stages=2, convs_per_stage=2).architecture()
    assert model_lib.multiply_adds(model_lib.build_model(**old)) == 18_691_840


def test_the_default_model_costs_the_multiply_adds_the_docs_state():
    stated = re.search(r"([\d,]+) multiply-adds per image", MODEL_DOC.read_text())
    assert stated, "docs/model.md states no '<N> multiply-adds per image'"
    default = model_lib.build_model(**Recipe().architecture())
    assert model_lib.multiply_adds(default) == int(stated.group(1).replace(",", ""))


def test_label_smoothing_zero_is_keras_s_sparse_crossentropy_and_otherwise_smooths():
    labels = np.array([0, 3, 9])
    probabilities = tf.nn.softmax(np.random.default_rng(0).normal(size=(3, 10)).astype(np.float32))
    plain = model_lib.SmoothedSparseCrossentropy(0.0)(labels, probabilities)
    keras = tf.keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    np.testing.assert_allclose(plain, keras, rtol=1e-6)
    smoothed = model_lib.SmoothedSparseCrossentropy(0.1)(labels, probabilities)
    targets = 0.9 * tf.one_hot(labels, 10) + 0.01
    by_hand = -tf.reduce_mean(tf.reduce_sum(targets * tf.math.log(probabilities), axis=1))
    np.testing.assert_allclose(smoothed, by_hand, rtol=1e-5)


def test_pool_before_norm_moves_each_stage_s_pooling_ahead_of_its_last_normalisation_at_the_same_cost():
    def after_each_conv(recipe):
        layers = model_lib.build_feature_extractor(**recipe.architecture()).layers
        return [type(layers[i + 1]).__name__ for i, layer in enumerate(layers)
                if isinstance(layer, tf.keras.layers.Conv2D)]

    assert Recipe().pool_before_norm
    assert after_each_conv(Recipe()) == ["MaxPooling2D"] * 3
    assert after_each_conv(Recipe(pool_before_norm=False)) == ["BatchNormalization"] * 3
    # With two convolutions a stage, only the last one's normalisation moves behind the pooling.
    assert after_each_conv(Recipe(stages=2, convs_per_stage=2)) == ["BatchNormalization", "MaxPooling2D"] * 2
    for recipe in (Recipe(), Recipe(stages=2, convs_per_stage=2)):
        pooled_last = dataclasses.replace(recipe, pool_before_norm=False)
        assert (model_lib.multiply_adds(model_lib.build_model(**recipe.architecture()))
                == model_lib.multiply_adds(model_lib.build_model(**pooled_last.architecture())))
    assert Recipe(pool_before_norm="yes").problems() == ["pool_before_norm must be true or false, got 'yes'"]
