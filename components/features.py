"""Names and shapes shared by the data, the Transform, the model and whatever reads their
artifacts: the one home of each (the curated schema, schema/schema.pbtxt, states the same)."""
import os
from typing import Any

IMAGE_KEY = "image_raw"  # raw feature: the 784 uint8 pixel bytes
LABEL_KEY = "label"  # raw and transformed: int64 digit 0-9
SHAPE_KEYS = ("height", "width", "depth")  # raw: int64 28, 28 and 1
IMAGE_SIZE = 28
IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE  # one uint8 per pixel, one channel, row-major
NUM_CLASSES = 10

TRANSFORMED_IMAGE_KEY = "image"  # float32 [28, 28, 1] in [0, 1]

# The splits: the official 60,000 training and 10,000 test images, as `train/` and `eval/`
# folders of raw data and as TFX lays them out in an artifact (`split_dir`).
TRAIN, EVAL = "train", "eval"
SPLITS = (TRAIN, EVAL)
STATISTICS_FILE = "FeatureStats.pb"  # StatisticsGen's file in each split's folder
HISTORY_FILE = "history.json"  # the Trainer's per-epoch metrics, in its model_run artifact (the report's curves)


def split_dir(uri: str, split: str) -> str:
    """A split's folder inside an Examples, statistics or anomalies artifact."""
    return os.path.join(uri, f"Split-{split}")

# The accuracy metric, as Keras and TF Model Analysis both take a metric (class name and config),
# and the name it goes by everywhere: Keras's history, TFMA's metric key, the `accuracy`
# property of an evaluation in MLMD.
ACCURACY_METRIC: dict[str, Any] = {"class_name": "SparseCategoricalAccuracy", "config": {"name": "accuracy"}}
ACCURACY = ACCURACY_METRIC["config"]["name"]

# The exported model's signatures (components/trainer.py), for clients that must not import TensorFlow.
SERVING_SIGNATURE = "serving_default"  # serialized tf.Example -> probabilities, digit
CLASSIFY_SIGNATURE = "classify"  # TF Serving's Classify API: inputs -> classes, scores
CLASSIFY_METHOD = "tensorflow/serving/classify"
IMAGES_SIGNATURE = "predict_images"  # float [N, 28, 28] of 0-255 -> probabilities, digit

# Spans: a data set is a folder of span folders, each with train/ and eval/ (pipeline/data.py);
# ImportExampleGen reads the one span a run ingests through TFX's {SPAN} pattern.
SPAN_FOLDER = "span-{SPAN}"
DATA_SET_FILE = "data_set.json"  # in the data set's folder: {"id": ...}, new for every fresh data set
SPAN_MANIFEST = "manifest.json"  # in each span's folder: where its examples came from, and how many
# Custom properties of an Examples artifact beside TFX's `span` (components/example_gen.py).
SPAN_PROPERTY = "span"
DATA_SET_PROPERTY = "data_set"
SOURCE_PROPERTY = "source"

# Where the Trainer saves the feature extractor, relative to the serving model's folder: inside it
# (TensorFlow Serving ignores `assets.extra/`), so the Pusher pushes it with its model.
FEATURE_EXTRACTOR_FILE = "assets.extra/feature_extractor.keras"
