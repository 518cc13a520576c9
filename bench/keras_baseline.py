"""The pipeline's model trained by plain Keras on in-memory numpy arrays: the baseline that the
pipeline's wall time is measured against. Prints one JSON line."""
import json
import sys
import time

import pipeline  # noqa: F401  (the legacy-Keras switch, before TensorFlow)
from components import model as model_lib
from pipeline import data
from pipeline.config import PipelineConfig


def main(train_examples: int, eval_examples: int, epochs: int) -> None:
    import tensorflow as tf

    config = PipelineConfig()
    splits = data.load_bundled()
    train, test = splits["train"].head(train_examples), splits["eval"].head(eval_examples)
    x_train = train.images[..., None].astype("float32") / 255.0
    x_test = test.images[..., None].astype("float32") / 255.0
    tf.keras.utils.set_random_seed(config.seed)
    steps = -(-len(x_train) // config.batch_size)
    model = model_lib.build_model(config.learning_rate, epochs * steps)
    started = time.perf_counter()
    model.fit(x_train, train.labels, batch_size=config.batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - started
    accuracy = model.evaluate(x_test, test.labels, verbose=0)[1]
    print(json.dumps({"train_seconds": seconds, "accuracy": accuracy, "epochs": epochs,
                      "batch_size": config.batch_size, "train_examples": len(x_train)}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
