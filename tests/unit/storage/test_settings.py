"""The storage setting: where it comes from, what it may hold, and where the home's things go."""
import pytest

from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ConfigError
from pipeline.home import Home
from pipeline.storage import settings


@pytest.mark.parametrize("value, says", [
    ("/data/store", "s3://BUCKET/PREFIX"),
    ("s3://", "s3://BUCKET/PREFIX"),
    ("ftp://host/x", "s3://BUCKET/PREFIX"),
    ("s3://KEY:SECRET@bucket/x", "no credentials"),
    ("s3://bucket/x?region=eu", "no credentials"),
])
def test_a_bad_storage_url_is_refused_saying_what_it_must_be(value, says):
    with pytest.raises(ConfigError, match=says.replace("?", r"\?")):
        settings.checked(value)


def test_the_config_file_wins_over_the_environment_and_unset_is_the_home(home, monkeypatch):
    home.root.mkdir(parents=True)
    assert Home.from_env().storage == "" and Home.from_env().store == home.root
    monkeypatch.setenv(settings.STORAGE_ENV, "s3://from-env/q")
    stored = Home.from_env()
    assert stored.storage == "s3://from-env/q"
    config = PipelineConfig()
    assert str(stored.pipeline_root(config)) == "s3://from-env/q/pipelines/mnist"
    assert str(stored.serving_dir(config)) == "s3://from-env/q/serving/mnist"
    assert str(stored.mnist_data) == "s3://from-env/q/data/mnist"
    assert str(stored.report_file("run 1")).startswith("s3://from-env/q/reports/run_1/")
    # What stays on this machine: its settings, locks, logs, SQLite stores, Airflow.
    for local in (stored.config_file, stored.metadata_db, stored.run_lock, stored.logs, stored.airflow_home):
        assert str(local).startswith(str(home.root))
    home.config_file.write_text("storage: s3://from-file/p/\nepochs: 2\n")
    assert Home.from_env().storage == "s3://from-file/p"
    assert load_config(home=home).epochs == 2  # the key is the home's, not a run's


def test_storage_is_not_a_per_run_setting(home):
    with pytest.raises(ConfigError, match="not per run"):
        load_config(overrides={"storage": "s3://b/p"}, home=home)
