"""Names and shapes shared by the data, the Transform and the model."""

IMAGE_KEY = "image_raw"  # raw feature: the 784 uint8 pixel bytes
LABEL_KEY = "label"  # raw and transformed: int64 digit 0-9
IMAGE_SIZE = 28
NUM_CLASSES = 10

TRANSFORMED_IMAGE_KEY = "image"  # float32 [28, 28, 1] in [0, 1]

# The accuracy metric, as Keras and TF Model Analysis both take a metric (class name and config),
# and the name it goes by everywhere: Keras's history, TFMA's metric key, the `accuracy`
# property of an evaluation in MLMD.
ACCURACY_METRIC = {"class_name": "SparseCategoricalAccuracy", "config": {"name": "accuracy"}}
ACCURACY = ACCURACY_METRIC["config"]["name"]

# The exported model's signatures (components/trainer.py), for clients that must not import TensorFlow.
SERVING_SIGNATURE = "serving_default"  # serialized tf.Example -> probabilities, digit
CLASSIFY_SIGNATURE = "classify"  # TF Serving's Classify API: inputs -> classes, scores
CLASSIFY_METHOD = "tensorflow/serving/classify"
IMAGES_SIGNATURE = "predict_images"  # float [N, 28, 28] of 0-255 -> probabilities, digit

# Where the Trainer saves the feature extractor, relative to the serving model's folder: inside it
# (TensorFlow Serving ignores `assets.extra/`), so the Pusher pushes it with its model.
FEATURE_EXTRACTOR_FILE = "assets.extra/feature_extractor.keras"
