"""The pipeline's model trained by plain Keras on in-memory numpy arrays, with the same recipe
(components/training.py): the baseline that the pipeline's wall time is measured against.
Prints one JSON line."""
import dataclasses
import json
import sys
import time

import pipeline  # noqa: F401  (the legacy-Keras switch, before TensorFlow)
from components import training
from pipeline.config import PipelineConfig
from pipeline.data.sources import load_bundled


def main(train_examples: int, eval_examples: int, epochs: int) -> None:
    recipe = dataclasses.replace(PipelineConfig().recipe(), epochs=epochs)
    splits = load_bundled()
    train, test = splits["train"].head(train_examples), splits["eval"].head(eval_examples)
    x_train = train.images[..., None].astype("float32") / 255.0
    x_test = test.images[..., None].astype("float32") / 255.0
    started = time.perf_counter()
    model, _ = training.train(recipe, (x_train, train.labels))
    seconds = time.perf_counter() - started
    accuracy = training.accuracy(model, x_test, test.labels)
    print(json.dumps({"train_seconds": seconds, "accuracy": accuracy, "epochs": epochs,
                      "batch_size": recipe.batch_size, "train_examples": len(x_train)}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
