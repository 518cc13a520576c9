"""Serving on a home whose storage is a bucket of a real S3 server (SeaweedFS, conftest.py): the
version folders and TF Serving's models config in the bucket, the locks local, the stored URI as
the base_path; `predict` and the extractor answering from a version in the store; the plugin's
report and model card pages read from it."""
import json

import numpy as np
import pytest
from ml_metadata.metadata_store import metadata_store

from components.features import FEATURE_EXTRACTOR_FILE, IMAGES_SIGNATURE
from pipeline.cli.main import main
from pipeline.config import PipelineConfig
from pipeline.metadata.store import connection_config
from pipeline.orchestration.airflow_dag import DAG_ID
from pipeline.serving import inference, models_config, registry
from pipeline.storage import files
from tests.support.plugin_pages import RUN, report_url
from tests.support.pushes import push


@pytest.fixture
def store(stored_home):
    return metadata_store.MetadataStore(connection_config(stored_home))


def _stored_config(served) -> tuple[str, dict[str, int], list[int]]:
    """The models config as TF Serving reads it from the bucket: base_path, labels, versions."""
    [model] = models_config.parse(files.path(str(served.config_file)).read_text()).model_config_list.config
    return model.base_path, dict(model.version_labels), sorted(model.model_version_policy.specific.versions)


def _nothing_local_but_the_homes_own(home) -> None:
    """The home's folder holds its settings, locks and MLMD only: no serving/ nor reports/."""
    assert {p.name for p in home.root.iterdir()} <= {"metadata.db", "reports.lock", "serving.lock"}


def test_labels_on_a_stored_home_are_kept_in_the_bucket(stored_home, store, capsys):
    served = registry.Served(stored_home, PipelineConfig(serving_base_path="/models"))
    folder = f"{stored_home.storage}/serving/mnist"
    assert (str(served.folder), str(served.config_file)) == (folder, f"{folder}.models.config")
    for run, version in (("run-1", 100), ("run-2", 200)):
        push(stored_home, store, run, version)
        registry.record_push(served, store, version, f"the Pusher of {run}")
    # TF Serving reads s3:// itself: the stored URI, not serving_base_path (a local home's mount).
    assert _stored_config(served) == (folder, {"stable": 100, "canary": 200}, [100, 200])
    assert served.versions() == [100, 200]
    assert main(["serving", "promote", "200"]) == 0
    assert _stored_config(served) == (folder, {"stable": 200, "canary": 200}, [100, 200])
    assert main(["serving", "rollback"]) == 0
    push(stored_home, store, "run-3", 300)
    registry.record_push(served, store, 300, "the Pusher of run-3")
    assert main(["serving", "prune", "--keep", "0"]) == 0
    assert served.versions() == [100, 300]
    assert not files.path(f"{folder}/200/saved_model.pb").exists()
    assert _stored_config(served) == (folder, {"stable": 100, "canary": 300}, [100, 300])
    capsys.readouterr()
    assert main(["serving", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["base_path"] == folder and status["models_config_exists"]
    assert [(v["version"], v["path"], v["run_id"]) for v in status["versions"]] == \
        [(100, f"{folder}/100", "run-1"), (300, f"{folder}/300", "run-3")]
    assert served.lock_file == stored_home.root / "serving.lock" and served.lock_file.is_file()
    _nothing_local_but_the_homes_own(stored_home)


def test_a_local_home_keeps_its_files_and_serving_base_path(home):
    served = registry.Served(home, PipelineConfig(serving_base_path="/models/"))
    assert served.base_path == "/models/mnist" and served.lock_file == home.root / "serving.lock"
    models_config.write(served.config_file, models_config.render("mnist", served.base_path, {"stable": 1}))
    assert models_config.read_labels(served.config_file) == {"stable": 1}
    assert [p.name for p in served.config_file.parent.iterdir()] == ["mnist.models.config"]  # no temporary left


def _save_digit_model(folder) -> None:
    """A SavedModel with the served model's signature: the digit is the images' mean ink / 25.5."""
    import tensorflow as tf

    class Digits(tf.Module):
        def __init__(self):
            super().__init__()
            self.sharpness = tf.Variable(10.0)  # so that the model has a variables/ folder to fetch

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)])
        def predict(self, images):
            ink = tf.reduce_mean(images, axis=[1, 2]) / 25.5
            logits = tf.stack([-tf.abs(ink - digit) for digit in range(10)], axis=1) * self.sharpness
            return {"probabilities": tf.nn.softmax(logits)}

    model = Digits()
    tf.saved_model.save(model, str(folder), signatures={IMAGES_SIGNATURE: model.predict})


def _push_stored(home, version: int, local_model) -> str:
    destination = f"{home.storage}/serving/mnist/{version}"
    files.upload(local_model, destination)
    return destination


def test_predict_answers_from_a_version_in_the_store(stored_home, tmp_path, capsys):
    local_model = tmp_path / "model"
    _save_digit_model(local_model)
    _push_stored(stored_home, 5, local_model)
    newest = _push_stored(stored_home, 7, local_model)
    models_config.write(stored_home.models_config_of("mnist"),
                        models_config.render("mnist", f"{stored_home.storage}/serving/mnist", {"stable": 5}))
    digits = tmp_path / "digits.npy"
    np.save(digits, np.stack([np.full((28, 28), 3 * 25.5), np.full((28, 28), 8 * 25.5)]))

    assert main(["predict", str(digits), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == newest and [p["digit"] for p in answer["predictions"]] == [3, 8]
    assert main(["predict", str(digits), "--label", "stable", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == f"{stored_home.storage}/serving/mnist/5"

    # Fetched once per process: the local copy serves the next load, also with the store gone.
    copy = inference.cached_copy(newest)
    assert (copy / "saved_model.pb").is_file() and list((copy / "variables").iterdir())
    assert "://" not in str(copy)
    files.remove_tree(newest)
    assert inference.LocalModel(newest).classify(np.full((1, 28, 28), 8 * 25.5))[0].digit == 8
    with pytest.raises(inference.ModelError, match="no pushed model version 9 in s3://"):
        inference.load_model(stored_home, version=9)
    _nothing_local_but_the_homes_own(stored_home)


def test_the_extractor_of_a_stored_version_loads_from_its_local_copy(stored_home, tmp_path):
    import tensorflow as tf

    from pipeline.serving.extractor import extractor_file, load_feature_extractor

    local_model = tmp_path / "model"
    inputs = tf.keras.Input(shape=(28, 28, 1))
    embedding = tf.keras.layers.Dense(4)(tf.keras.layers.Flatten()(inputs))
    (local_model / FEATURE_EXTRACTOR_FILE).parent.mkdir(parents=True)
    tf.keras.Model(inputs, embedding).save(local_model / FEATURE_EXTRACTOR_FILE)
    (local_model / "saved_model.pb").write_bytes(b"")
    version_dir = _push_stored(stored_home, 11, local_model)

    assert str(extractor_file(home=stored_home)) == f"{version_dir}/{FEATURE_EXTRACTOR_FILE}"
    extractor = load_feature_extractor(home=stored_home)
    assert extractor.version == "11" and extractor.path == f"{version_dir}/{FEATURE_EXTRACTOR_FILE}"
    assert extractor(np.zeros((2, 28, 28), np.float32)).shape == (2, 4)
    _nothing_local_but_the_homes_own(stored_home)


def _plugin_client():
    from fastapi.testclient import TestClient

    from pipeline.services import airflow_plugin

    app = airflow_plugin.create_app()
    for check in app.state.access_checks:
        app.dependency_overrides[check] = lambda: None
    app.dependency_overrides[airflow_plugin.airflow_run_state] = lambda: "success"
    return TestClient(app)


def test_the_plugin_serves_a_stored_report_and_model_card(stored_home):
    """(pipeline/services/airflow_plugin.py, here for the S3 server of this folder's conftest.py.)"""
    from pipeline.services import airflow_plugin

    report, card = stored_home.report_file(RUN), stored_home.model_card(RUN, 1796348467)
    assert str(report).startswith("s3://")
    report.write_text("<html><body>the stored report</body></html>")
    card.write_text("<html><body>the stored card</body></html>")
    client = _plugin_client()
    response = client.get(report_url())
    assert (response.status_code, response.text) == (200, "<html><body>the stored report</body></html>")
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    base = report_url().rsplit("/", 1)[0]
    assert client.get(f"{base}/{card.name}").text == "<html><body>the stored card</body></html>"
    assert client.get(f"{base}/model-card-1.html").status_code == 404
    files.path(f"{stored_home.storage}/index.html").write_text("not a report")  # where a run id ".." would lead
    response = client.get(f"/dags/{DAG_ID}/runs/%2E%2E/report")  # reports/../index.html
    assert response.status_code == 404 and "No such run" in response.text
    airflow_plugin._write_report(stored_home, RUN)  # written already: nothing to do, under a local lock
    assert (stored_home.root / airflow_plugin.REPORTS_LOCK).is_file()
    _nothing_local_but_the_homes_own(stored_home)
