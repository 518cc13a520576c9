"""Serving speed of a pushed model: the `serving_default` signature on serialized tf.Example,
against the bare Keras model on the same images. Prints one JSON line."""
import json
import sys
import time

import numpy as np

import pipeline  # noqa: F401
from pipeline.data.records import serialize_example
from pipeline.data.sources import load_bundled


def _timed(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return np.array(times)


def main(model_dir: str, repeats_single: int, repeats_batch: int) -> None:
    import tensorflow as tf

    test = load_bundled()["eval"].head(256)
    serialized = [serialize_example(image, label) for image, label in zip(test.images, test.labels)]
    images = test.images[..., None].astype("float32") / 255.0
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    # compile=False: the optimizer's OneCycle schedule is no registered Keras object, and
    # inference needs no optimizer.
    keras_model = tf.keras.models.load_model(model_dir, compile=False)
    one, batch = tf.constant(serialized[:1]), tf.constant(serialized)
    for _ in range(5):  # warm up both paths
        serve(examples=one), serve(examples=batch), keras_model(images[:1]), keras_model(images)
    single = _timed(lambda: serve(examples=one), repeats_single)
    batched = _timed(lambda: serve(examples=batch), repeats_batch)
    keras_batched = _timed(lambda: keras_model(images, training=False), repeats_batch)
    agree = np.mean(serve(examples=batch)["digit"].numpy() == np.argmax(keras_model(images).numpy(), axis=1))
    print(json.dumps({
        "batch1_per_second": 1 / np.median(single),
        "batch1_p50_ms": 1000 * np.percentile(single, 50), "batch1_p99_ms": 1000 * np.percentile(single, 99),
        "batch256_per_second": 256 / np.median(batched),
        "keras_batch256_per_second": 256 / np.median(keras_batched),
        "signature_agrees_with_keras": float(agree),
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
