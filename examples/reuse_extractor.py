"""Transfer learning from the digit classifier: a new classifier on a different data set, built
on the pushed model's feature extractor, against the same classifier trained from scratch.

The data: scikit-learn's `digits` (1,797 handwritten digits of 8x8 pixels, 0-16, shipped with
scikit-learn), each scaled into a 20x20 box and padded to 28x28, where MNIST's digits sit. 100 of
them train by default (`--train N`), the rest test. Three classifiers, each the extractor (image -> 128-d
embedding) and a new head (dropout, softmax over 10 digits):
- frozen: the pushed model's extractor, frozen; only the head trains;
- fine-tuned: that classifier again, the extractor unfrozen, all of it trained on at a hundredth
  of the head's rate;
- from scratch: the same architecture with fresh weights, trained as long as the other two together.

Run it after `make run` (or any run that pushed a model), from the repository's root:

    .venv/bin/python examples/reuse_extractor.py [--train 100] [--epochs 20] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import pipeline  # noqa: F401  (sets the legacy-Keras switch TFX needs, before TensorFlow loads)
from pipeline.errors import ConfigError
from pipeline.home import Home
from pipeline.serving.extractor import load_feature_extractor, with_pixel_input
from pipeline.serving.inference import ModelError


def sklearn_digits_as_mnist() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as MNIST-style [N, 28, 28] pixels 0-255 (ink light on dark), labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = [np.pad(np.clip(np.asarray(Image.fromarray((pixels * 255 / 16).astype(np.float32), mode="F")
                                        .resize((20, 20), Image.BILINEAR)), 0, 255), 4)
              for pixels in digits.images]
    return np.stack(images).astype(np.float32), digits.target.astype(np.int64)


def split(images, labels, train_count: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(labels))
    train, test = order[:train_count], order[train_count:]
    return (images[train], labels[train]), (images[test], labels[test])


def classifier(extractor, learning_rate: float):
    import tensorflow as tf

    images = tf.keras.Input(shape=extractor.input_shape[1:], name="images")
    x = tf.keras.layers.Dropout(0.3)(extractor(images))
    probabilities = tf.keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(images, probabilities)
    compile_for(model, learning_rate)
    return model


def compile_for(model, learning_rate: float) -> None:
    import tensorflow as tf

    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def fresh_copy(extractor):
    """The same architecture and preprocessing with fresh random weights, all of it trainable, its
    batch normalisation and dropout left to Keras as in any training from scratch."""
    import tensorflow as tf

    from components.model import feature_extractor_of

    copy = tf.keras.models.clone_model(feature_extractor_of(extractor))
    copy.trainable = True  # a clone keeps the original's (frozen) setting
    return with_pixel_input(copy)


def trained_by(extractor) -> str:
    """The run that trained the extractor's model, from the metadata store (as `lineage` finds it)."""
    from pipeline.metadata.lineage import find_pushed_model, upstream
    from pipeline.metadata.store import open_store

    try:
        store = open_store(Home.from_env())
        steps = upstream(store, find_pushed_model(store, extractor.path).id)
    except (LookupError, FileNotFoundError, RuntimeError) as err:
        return f"(run not found: {err})"
    return next((step["run_id"] for step in steps if step["run_id"]), "(run not recorded)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=100, help="training images (the rest test), default 100")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the frozen stage, default 20 (fine-tuning "
                                                               "adds half as many; from scratch trains both)")
    parser.add_argument("--version", help="the pushed model's version, default the latest")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    images, labels = sklearn_digits_as_mnist()
    if not 10 <= args.train <= len(labels) - 100 or args.epochs < 1:
        parser.error(f"--train must lie in [10, {len(labels) - 100}] and --epochs be at least 1")
    try:
        extractor = load_feature_extractor(args.version)
    except (ModelError, ConfigError) as err:
        print(f"reuse_extractor: {err}", file=sys.stderr)
        return 2
    import tensorflow as tf

    tf.keras.utils.set_random_seed(args.seed)
    (train_x, train_y), (test_x, test_y) = split(images, labels, args.train, args.seed)
    print(f"feature extractor: pushed model version {extractor.version}, trained by run {trained_by(extractor)}")
    print(f"  {extractor.path}")
    print(f"data: scikit-learn digits (8x8, scaled into MNIST's 28x28): {len(train_y)} training images, "
          f"{len(test_y)} test images")
    fine_epochs = max(1, args.epochs // 2)
    results = []

    def fit(name, model, epochs):
        started = time.monotonic()
        model.fit(train_x, train_y, batch_size=32, epochs=epochs, verbose=0)
        accuracy = model.evaluate(test_x, test_y, batch_size=512, verbose=0)[1]
        results.append((name, accuracy, time.monotonic() - started))

    # The head alone on fixed embeddings takes a high rate; the whole network a usual one.
    reused = classifier(extractor, 1e-2)
    fit(f"extractor frozen, head trained {args.epochs} epochs", reused, args.epochs)
    extractor.trainable = True
    compile_for(reused, 1e-4)
    fit(f"then extractor fine-tuned {fine_epochs} epochs", reused, fine_epochs)
    fit(f"from scratch, {args.epochs + fine_epochs} epochs", classifier(fresh_copy(extractor), 1e-3),
        args.epochs + fine_epochs)
    print(f"\n{'classifier (extractor + new head)':<40} {'test accuracy':>13} {'seconds':>8}")
    for name, accuracy, seconds in results:
        print(f"{name:<40} {accuracy:>13.4f} {seconds:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
