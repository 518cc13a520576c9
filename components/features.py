"""Names and shapes shared by the data, the Transform and the model."""

IMAGE_KEY = "image_raw"  # raw feature: the 784 uint8 pixel bytes
LABEL_KEY = "label"  # raw and transformed: int64 digit 0-9
IMAGE_SIZE = 28
NUM_CLASSES = 10

TRANSFORMED_IMAGE_KEY = "image"  # float32 [28, 28, 1] in [0, 1]
