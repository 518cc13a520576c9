"""Which metadata store a home uses, and opening it (pipeline/metadata/store.py)."""
import pytest

from pipeline.metadata.store import connection_config, open_store


def test_no_store_is_a_clear_error(home):
    with pytest.raises(FileNotFoundError, match="no pipeline has run in this home yet"):
        open_store(home)


def test_the_store_is_sqlite_in_the_home_or_the_mysql_server_configured(home, monkeypatch):
    from pipeline.config import PipelineConfig, load_config
    from pipeline.errors import ConfigError

    assert connection_config(home, PipelineConfig()).sqlite.filename_uri == str(home.metadata_db)
    monkeypatch.setenv("MNIST_PIPELINE_MLMD", "mysql://mlmd@127.0.0.1:3307/runs")
    monkeypatch.setenv("MNIST_PIPELINE_MLMD_PASSWORD", "s3cret")
    connection = connection_config(home)  # the environment names it for every command
    assert (connection.mysql.host, connection.mysql.port, connection.mysql.database, connection.mysql.user,
            connection.mysql.password) == ("127.0.0.1", 3307, "runs", "mlmd", "s3cret")
    with pytest.raises(ConfigError, match="must not hold a password"):
        load_config(overrides={"metadata_store": "mysql://mlmd:pw@localhost/runs"}, home=home)
    with pytest.raises(ConfigError, match=r"mysql://USER@HOST:PORT/DATABASE"):
        load_config(overrides={"metadata_store": "postgres://x@y/z"}, home=home)

