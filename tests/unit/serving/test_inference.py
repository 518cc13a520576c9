"""What `predict` does before any model is loaded: the model server's URL, and which version."""
import pytest

from pipeline.home import Home
from pipeline.serving import inference


@pytest.mark.parametrize("server, version, expected", [
    ("http://127.0.0.1:8501", None, "http://127.0.0.1:8501/v1/models/mnist"),
    ("127.0.0.1:8501/", None, "http://127.0.0.1:8501/v1/models/mnist"),
    ("https://serving.example:443", 7, "https://serving.example:443/v1/models/mnist/versions/7"),
    ("http://host:8501/v1/models/digits/", None, "http://host:8501/v1/models/digits"),
])
def test_model_url(server, version, expected):
    assert inference.model_url(server, version=version) == expected


def test_a_server_that_is_no_url_is_refused():
    with pytest.raises(ValueError, match="REST address"):
        inference.model_url("ftp://host/models")


def test_the_latest_version_is_the_highest_number_with_a_model(tmp_path):
    home = Home(tmp_path)
    for version, complete in ((9, True), (10, True), (11, False)):  # 11: still being written
        folder = home.serving_root / "mnist" / str(version)
        folder.mkdir(parents=True)
        if complete:
            (folder / "saved_model.pb").write_bytes(b"")
    assert inference.latest_model_dir(home) == home.serving_root / "mnist" / "10"


def test_no_model_and_a_missing_version_are_clear(tmp_path):
    home = Home(tmp_path)
    with pytest.raises(inference.ModelError, match="no pushed model in .*run `mnist-pipeline run` first"):
        inference.load_model(home)
    (home.serving_root / "mnist" / "3").mkdir(parents=True)
    (home.serving_root / "mnist" / "3" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(inference.ModelError, match="no pushed model version 4"):
        inference.load_model(home, version=4)


def test_the_model_name_follows_the_homes_pipeline_name(tmp_path):
    home = Home(tmp_path)
    for name, version in (("mnist", 9), ("digits", 5)):
        (home.serving_root / name / str(version)).mkdir(parents=True)
        (home.serving_root / name / str(version) / "saved_model.pb").write_bytes(b"")
    assert inference.latest_model_dir(home) == home.serving_root / "mnist" / "9"
    home.config_file.write_text("pipeline_name: digits\n")
    assert inference.latest_model_dir(home) == home.serving_root / "digits" / "5"
    assert inference.latest_model_dir(home, "mnist") == home.serving_root / "mnist" / "9"
    home.config_file.write_text("pipeline_name: letters\n")
    with pytest.raises(inference.ModelError,
                       match=r"serving/letters; models pushed here: digits, mnist \(--model-name"):
        inference.latest_model_dir(home)
