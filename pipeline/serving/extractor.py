"""The feature extractor of a pushed model, for new models to build on ("DAGs all the way down").

    from pipeline.serving.extractor import load_feature_extractor

    extractor = load_feature_extractor()         # the latest pushed model's, a Keras model
    embeddings = extractor(images)               # [N, 28, 28] of 0-255 (as MNIST) -> [N, 128]
    extractor.version, extractor.path            # the serving version it came with, and its file

Image in, embedding out: its input layer (`components.preprocessing.MnistPixels`) preprocesses as
the served model's `predict_images` signature does (rounded to bytes, the transform graph's
scaling). The Trainer saves the extractor inside the serving model's folder
(`serving/<pipeline_name>/<version>/assets.extra/feature_extractor.keras`), so it is pushed,
versioned and kept with its model, and `mnist-pipeline lineage <that file>` leads back to the
run that trained it. Frozen by default (`trainable=False`); its batch normalisation and dropout
always run in inference mode, also when fine-tuned, as Keras advises for transfer learning.

When the home's storage is a bucket, `extractor_file` is the stored file (its s3:// URI, as
`path` and lineage name it), and Keras loads a local copy of it, fetched once per process
(`inference.cached_copy`).
"""
from __future__ import annotations

from pathlib import Path

from components import features
from components.preprocessing import MnistPixels
from pipeline.config import PipelineConfig, load_config
from pipeline.home import Home
from pipeline.serving.inference import ModelError, cached_copy, latest_model_dir

FEATURE_EXTRACTOR_FILE = Path(features.FEATURE_EXTRACTOR_FILE)


def extractor_file(version: int | str | None = None, home: Home | None = None,
                   config: PipelineConfig | None = None) -> Path:
    """The extractor file of a pushed version (default: the latest) of the config's pipeline."""
    home = home or Home.from_env()
    config = config or load_config(home=home)
    folder = home.serving_dir(config)
    model_dir = latest_model_dir(home, config.pipeline_name) if version is None else folder / str(version)
    if not (model_dir / "saved_model.pb").is_file():
        raise ModelError(f"no pushed model version {version} in {folder}")
    path = model_dir / FEATURE_EXTRACTOR_FILE
    if not path.is_file():
        raise ModelError(f"the pushed model {model_dir} holds no feature extractor ({FEATURE_EXTRACTOR_FILE}): "
                         "it was trained before extractors were pushed with their model; run the pipeline again")
    return path


def load_feature_extractor(version: int | str | None = None, home: Home | None = None,
                           config: PipelineConfig | None = None, trainable: bool = False):
    """A pushed model's feature extractor as a Keras model: images [N, 28, 28] of 0-255 in,
    embeddings [N, 128] out. `version` defaults to the latest pushed."""
    import tensorflow as tf

    # Tells autograph to leave tf_keras alone (components/model.py): training the extractor, or a
    # model built on it, is then several times faster.
    import components.model  # noqa: F401

    path = extractor_file(version, home, config)
    extractor = tf.keras.models.load_model(str(cached_copy(path)), compile=False)
    extractor.trainable = trainable
    model = with_pixel_input(extractor, training=False, name=f"feature_extractor_{path.parent.parent.name}")
    model.version, model.path = path.parent.parent.name, str(path)
    return model


def with_pixel_input(extractor, training: bool | None = None, name: str | None = None):
    """`extractor` (image [28, 28, 1] in [0, 1] -> embedding, as the Trainer saves it) behind the
    input layer that takes [N, 28, 28] pixels of 0-255. `training=False` keeps its batch
    normalisation and dropout in inference mode however it is trained; None leaves them to Keras
    (for training an extractor from scratch)."""
    import tensorflow as tf


    size = features.IMAGE_SIZE
    images = tf.keras.Input(shape=(size, size), name="images")
    embedding = extractor(MnistPixels(name="mnist_pixels")(images), training=training)
    return tf.keras.Model(images, embedding, name=name or extractor.name)
