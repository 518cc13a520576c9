"""Every path under the home (pipeline/home.py) and where the home is."""
import datetime

import pytest

from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError
from pipeline.home import Home


def test_everything_lives_under_the_home(home, monkeypatch, tmp_path):
    config = PipelineConfig()
    for path in (home.metadata_db, home.serving_dir(config), home.pipeline_root(config),
                 home.airflow_home, home.mnist_data, home.run_lock, home.services_state, home.api_credentials,
                 home.service_file("scheduler", "log"), home.run_log(datetime.datetime(2026, 11, 29, 16, 5)),
                 home.report_file("manual__2026-11-29T16:05:00+00:00")):
        assert home.root in path.parents
    # A run id becomes one folder, whatever it holds: no way out of the reports folder.
    assert home.report_file("../../etc").parent.parent == home.reports
    assert home.run_log(datetime.datetime(2026, 11, 29, 16, 5)).name == "run-20261129T160500.log"
    assert home.metadata_db.name == "metadata.db"
    assert home.serving_dir(config) == home.root / "serving" / "mnist"
    monkeypatch.delenv("MNIST_PIPELINE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Home.from_env().root == tmp_path / ".mnist-pipeline"


def test_a_home_that_is_a_file_is_refused_in_words(tmp_path, monkeypatch):
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("MNIST_PIPELINE_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        Home.from_env()

