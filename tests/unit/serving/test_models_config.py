import pytest

from pipeline.serving import models_config


def test_first_push_is_stable_later_ones_canary(tmp_path):
    path = tmp_path / "models.config"
    assert models_config.sync(path, "mnist", "/models/mnist", [5]) == {"stable": 5}
    assert models_config.sync(path, "mnist", "/models/mnist", [5, 9]) == {"stable": 5, "canary": 9}
    config = models_config.parse(path.read_text()).model_config_list.config[0]
    assert config.name == "mnist" and dict(config.version_labels) == {"stable": 5, "canary": 9}
    assert list(config.model_version_policy.specific.versions) == [5, 9]


def test_push_label_stable(tmp_path):
    path = tmp_path / "models.config"
    models_config.sync(path, "mnist", "/models/mnist", [5])
    assert models_config.sync(path, "mnist", "/models/mnist", [5, 9], push_label="stable") == {"stable": 9}


def test_invalid_text_never_replaces_the_file(tmp_path):
    path = tmp_path / "models.config"
    models_config.sync(path, "mnist", "/models/mnist", [5])
    before = path.read_text()
    with pytest.raises(ValueError, match="not a TensorFlow Serving models config"):
        models_config.write(path, "model_config_list { nonsense: 1 }")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["models.config"]


def test_unknown_label_refused():
    with pytest.raises(ValueError, match="push_label"):
        models_config.after_push({}, 1, "beta")
