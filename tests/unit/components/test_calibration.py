import numpy as np
import pytest

from components import calibration
from components import model as model_lib


def _probabilities(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("true_temperature", [0.5, 2.0])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(true_temperature):
    """Labels drawn from softmax(logits / T): the maximum-likelihood T is close to it."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 10))
    drawn_from = _probabilities(logits / true_temperature)
    labels = np.array([rng.choice(10, p=p) for p in drawn_from])
    fitted = calibration.fit_temperature(_probabilities(logits), labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_a_held_out_set_the_model_gets_all_right_stops_at_the_lowest_temperature():
    logits = np.zeros((500, 10))
    logits[:, 3] = 1.0
    assert calibration.fit_temperature(_probabilities(logits), np.full(500, 3)) == \
        pytest.approx(calibration.LOWEST, rel=1e-3)


def test_calibrating_scales_the_model_s_output_and_keeps_its_answers():
    rng = np.random.default_rng(1)
    model = model_lib.build_model()
    images = rng.random((calibration.MIN_EXAMPLES, 28, 28, 1), dtype=np.float32)
    before = model.predict(images, verbose=0)
    labels = before.argmax(axis=1)  # an untrained model is right on these by construction
    calibrated = calibration.calibrate(model, images, labels)
    after = model.predict(images, verbose=0)
    assert calibrated.temperature < 1 and calibrated.accuracy == 1.0
    np.testing.assert_array_equal(after.argmax(axis=1), labels)
    np.testing.assert_allclose(after, calibration.scaled(before, calibrated.temperature), atol=1e-5)
    assert calibrated.mean_confidence_after == pytest.approx(after.max(axis=1).mean(), abs=1e-5)
    assert calibrated.mean_confidence_after > calibrated.mean_confidence_before


def test_too_few_held_out_examples_leave_the_model_as_it_is():
    model = model_lib.build_model()
    images = np.random.default_rng(2).random((calibration.MIN_EXAMPLES - 1, 28, 28, 1), dtype=np.float32)
    before = model.predict(images, verbose=0)
    calibrated = calibration.calibrate(model, images, before.argmax(axis=1))
    np.testing.assert_allclose(model.predict(images, verbose=0), before, atol=1e-6)
    assert calibrated.temperature == 1.0 and "uncalibrated" in calibrated.describe()
