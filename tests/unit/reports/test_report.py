import numpy as np

from pipeline.reports import report


def test_confusion_matrix_counts_true_against_predicted():
    matrix = report.confusion_matrix(np.array([0, 0, 1, 9]), np.array([0, 1, 1, 9]))
    assert matrix.sum() == 4 and matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[9, 9] == 1


def test_training_curves_are_drawn_per_epoch():
    svg = report._curves_svg({"loss": [0.5, 0.2], "val_loss": [0.3, 0.1], "accuracy": [0.8, 0.9],
                              "val_accuracy": [0.85, 0.95]})
    assert svg.count("<polyline") == 4 and svg.count("<circle") == 8
    assert "No training history" in report._curves_svg({})


def test_confusion_image_is_a_png():
    data = report._confusion_image(np.eye(10, dtype=np.int64) * 5)
    assert data.startswith("data:image/png;base64,")
