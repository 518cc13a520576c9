"""The peer: TFX's own MNIST example (tfx.examples.mnist.mnist_pipeline_native_keras, shipped in
the installed tfx package), run by import on the same images written in its input format.

  peer.py write DIR N   write the first N images of MNIST (train then test) as its tf.Examples
  peer.py run DIR       run its pipeline (TFX's BeamDagRunner, as its __main__ does)
  peer.py accuracy DIR  print the accuracy its Evaluator measured on its own eval split
"""
import glob
import json
import os
import sys

import pipeline  # noqa: F401  (the legacy-Keras switch)


def write(folder: str, count: int) -> None:
    import numpy as np
    import tensorflow as tf

    from pipeline.data.sources import load_bundled

    splits = load_bundled()
    images = np.concatenate([splits["train"].images, splits["eval"].images])[:count]
    labels = np.concatenate([splits["train"].labels, splits["eval"].labels])[:count]
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "data", "mnist.tfrecord")) as writer:
        for image, label in zip(images, labels):
            # Its input format: 784 floats in [-0.5, 0.5] and an int64 class.
            floats = image.reshape(-1).astype(np.float32) / 255.0 - 0.5
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image_floats": tf.train.Feature(float_list=tf.train.FloatList(value=floats)),
                "image_class": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            })).SerializeToString())


def run(folder: str) -> None:
    from tfx.examples.mnist import mnist_pipeline_native_keras as peer
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    module_file = os.path.join(os.path.dirname(peer.__file__), "mnist_utils_native_keras.py")
    BeamDagRunner().run(peer._create_pipeline(
        pipeline_name="mnist_native_keras", pipeline_root=os.path.join(folder, "root"),
        data_root=os.path.join(folder, "data"), module_file=module_file,
        serving_model_dir=os.path.join(folder, "serving"),
        metadata_path=os.path.join(folder, "metadata.db"),
        beam_pipeline_args=peer._beam_pipeline_args))


def accuracy(folder: str) -> None:
    from components.evaluator import read_accuracy

    [evaluation] = glob.glob(os.path.join(folder, "root", "Evaluator.mnist", "evaluation", "*"))
    print(json.dumps({"accuracy": read_accuracy(evaluation, "sparse_categorical_accuracy")[0]}))


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    {"write": lambda: write(folder, int(sys.argv[3])), "run": lambda: run(folder),
     "accuracy": lambda: accuracy(folder)}[command]()
