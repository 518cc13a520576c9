"""The Trainer component's run_fn: trains the Keras CNN and exports it for serving.

TensorFlow 2.16 removed `tf.estimator` (and with it Keras-to-estimator), and TFX 1.16 trains
through this native-Keras `run_fn` (GenericExecutor). The exported SavedModel carries the
transform graph, and two signatures that both return class probabilities and the digit:
- `serving_default` takes serialized tf.Example with `image_raw` (TensorFlow Serving's predict and
  classify APIs, the Evaluator);
- `classify` takes serialized tf.Example too, as TensorFlow Serving's Classify API requires: input
  `inputs`, outputs `classes` (the digits as strings) and `scores`, method name classify;
- `predict_images` takes a float [N, 28, 28] array of 0-255 pixel values, so a REST client can send
  plain JSON. It encodes the pixels as the 784 `image_raw` bytes and goes through the same transform
  graph, so both signatures preprocess exactly as Transform did in training.

It trains with the config's recipe (custom_config) with the Tuner's best hyperparameters applied
(the Tuner hands the recipe's own values on when tuning is off). The feature extractor is saved
inside the serving model's folder (features.FEATURE_EXTRACTOR_FILE), so the Pusher pushes it with
the model. Before export the model's confidence is calibrated on the eval split
(components/calibration.py; accuracy unchanged); `Executor` records the recipe trained with and
the calibration on the Model artifact in MLMD.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer import executor as trainer_executor
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.types import artifact_utils, standard_component_specs
from tfx_bsl.public import tfxio

from components import calibration, features, training
from components import model as model_lib
from components.recipe import Recipe

log = logging.getLogger(__name__)

# The recipe the model was trained with (the config's, with the Tuner's best settings applied),
# beside the model; the executor below also records it in MLMD as the Model's `trained_with`.
TRAINED_WITH_FILE = "trained_with.json"
TRAINED_WITH = "trained_with"
# The confidence calibration built into the exported model (components/calibration.py), likewise
# beside the model and in MLMD as the Model's `confidence_calibration` (JSON).
CALIBRATION_FILE = "confidence_calibration.json"
CALIBRATION = "confidence_calibration"


def load_split(fn_args, file_pattern, tf_transform_output) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as in-memory arrays, transformed here by the transform graph: Transform does
    not write transformed copies of the examples (`materialize=False`, pipeline/definition/pipeline.py),
    since applying the graph while loading costs less than writing and re-reading 784 floats an
    image. MNIST fits in memory easily, and fitting on arrays is as fast as Keras gets."""
    transform = tf_transform_output.transform_features_layer()

    # Not autograph-converted: TFT's code needs no conversion, and converting it cost seconds.
    @tf.autograph.experimental.do_not_convert
    def transformed(raw, label):
        return transform(raw)[features.TRANSFORMED_IMAGE_KEY], label

    dataset = training.without_autotune(fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=1024, label_key=features.LABEL_KEY,
                                       num_epochs=1, shuffle=False),
        tf_transform_output.raw_metadata.schema,
    ).map(transformed, num_parallel_calls=tf.data.AUTOTUNE))
    images, labels = [], []
    for batch, label in dataset:
        images.append(batch.numpy())
        labels.append(np.reshape(label.numpy(), [-1]))
    if not images:
        raise ValueError(f"no examples in {file_pattern}")
    # Into an aligned array, which the training then reads in place (training.shared_tensor).
    shape = (sum(len(batch) for batch in images), *images[0].shape[1:])
    return np.concatenate(images, out=training.aligned_empty(shape)), np.concatenate(labels)


def _signatures(model, tf_transform_output) -> dict:
    """The exported signatures: serialized tf.Example, and raw 0-255 images."""
    raw_spec = {features.IMAGE_KEY: tf_transform_output.raw_feature_spec()[features.IMAGE_KEY]}
    model.tft_layer = tf_transform_output.transform_features_layer()
    # The 256 one-byte strings: gathering pixel values from it and joining the rows rebuilds the
    # `image_raw` bytes exactly as the data holds them.
    byte_strings = tf.constant([bytes([value]) for value in range(256)])
    pixels = features.IMAGE_SIZE * features.IMAGE_SIZE

    def classify(raw_features):
        transformed = model.tft_layer(raw_features)
        probabilities = model(transformed[features.TRANSFORMED_IMAGE_KEY], training=False)
        return {"probabilities": probabilities,
                "digit": tf.argmax(probabilities, axis=1, output_type=tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized):
        return classify(tf.io.parse_example(serialized, raw_spec))

    # TF Serving's Classify API: one string input named `inputs`, `classes` (strings) and `scores`.
    digits = tf.constant([[str(d) for d in range(features.NUM_CLASSES)]])

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="inputs")])
    def classify_examples(inputs):
        scores = classify(tf.io.parse_example(inputs, raw_spec))["probabilities"]
        return {"classes": tf.tile(digits, [tf.shape(scores)[0], 1]), "scores": scores}

    size = features.IMAGE_SIZE

    @tf.function(input_signature=[tf.TensorSpec(shape=[None, size, size], dtype=tf.float32, name="images")])
    def serve_images(images):
        values = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 255.0)), tf.int32)
        raw = tf.strings.reduce_join(tf.gather(byte_strings, tf.reshape(values, [-1, pixels])), axis=1)
        return classify({features.IMAGE_KEY: tf.reshape(raw, [-1, 1])})

    return {features.SERVING_SIGNATURE: serve_examples, features.CLASSIFY_SIGNATURE: classify_examples,
            features.IMAGES_SIGNATURE: serve_images}


def _mark_classification(model_dir: str, signature: str) -> None:
    """Give `signature` the classify method name TF Serving's Classify API checks for.

    TF2 writes every signature with the predict method name; the Classify API refuses those.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[signature].method_name = features.CLASSIFY_METHOD
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def trained_recipe(custom_config, hyperparameters) -> Recipe:
    """The config's recipe with the Tuner's best hyperparameters (a KerasTuner config) applied."""
    recipe = Recipe.from_custom_config(custom_config or {})
    return recipe.with_settings(hyperparameters["values"]) if hyperparameters else recipe


def run_fn(fn_args: FnArgs) -> None:
    recipe = trained_recipe(fn_args.custom_config, fn_args.hyperparameters)
    log.info("training with %s", " ".join(f"{k}={v}" for k, v in recipe.to_custom_config().items()))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_split = load_split(fn_args, fn_args.train_files, tf_transform_output)
    eval_split = load_split(fn_args, fn_args.eval_files, tf_transform_output)
    log.info("validating on %d examples after every epoch", len(eval_split[1]))
    model, history = training.train(recipe, train_split, eval_split, callbacks=[
        tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")])
    calibrated = calibration.calibrate(model, *eval_split)
    log.info("confidence calibrated: %s", calibrated.describe())

    # save_traces=False: the signatures are traced anyway; Keras's traces of every layer's call
    # (for reloading without the layer classes, which are all Keras's own here) cost seconds.
    model.save(fn_args.serving_model_dir, save_format="tf", save_traces=False,
               signatures=_signatures(model, tf_transform_output))
    _mark_classification(fn_args.serving_model_dir, features.CLASSIFY_SIGNATURE)
    extractor_path = os.path.join(fn_args.serving_model_dir, features.FEATURE_EXTRACTOR_FILE)
    tf.io.gfile.makedirs(os.path.dirname(extractor_path))
    model_lib.feature_extractor_of(model).save(extractor_path)
    model_root = os.path.dirname(fn_args.serving_model_dir)
    with tf.io.gfile.GFile(os.path.join(model_root, TRAINED_WITH_FILE), "w") as f:
        json.dump(recipe.to_custom_config(), f, sort_keys=True)
    with tf.io.gfile.GFile(os.path.join(model_root, CALIBRATION_FILE), "w") as f:
        json.dump(dataclasses.asdict(calibrated), f, sort_keys=True)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, features.HISTORY_FILE), "w") as f:
        json.dump(history, f)
    log.info("exported the model to %s, its feature extractor in %s", fn_args.serving_model_dir,
             features.FEATURE_EXTRACTOR_FILE)


class Executor(trainer_executor.GenericExecutor):
    """TFX's Trainer (run_fn above), and the recipe it trained with and its confidence calibration
    recorded in MLMD as the Model's `trained_with` and `confidence_calibration` properties (JSON),
    where `show` and `compare` read them."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
        for name, file in ((TRAINED_WITH, TRAINED_WITH_FILE), (CALIBRATION, CALIBRATION_FILE)):
            with tf.io.gfile.GFile(os.path.join(model.uri, file)) as f:
                model.set_string_custom_property(name, f.read())
