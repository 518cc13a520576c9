"""The metadata store: which one a home uses (SQLite in the home, or MySQL/MariaDB), opening it,
and the small readers every other module of this package shares.

TFX writes executions, artifacts and their links; everything here reads MLMD alone: no
TensorFlow import.
"""
from __future__ import annotations

import os

from pipeline.config import MLMD_PASSWORD_ENV, PipelineConfig, load_config, mysql_store
from pipeline.home import Home

PIPELINE_RUN_CONTEXT = "pipeline_run"  # tfx.dsl.compiler.constants.PIPELINE_RUN_CONTEXT_TYPE_NAME


NODE_CONTEXT = "node"


def connection_config(home: Home, config: PipelineConfig | None = None):
    """The one place that says where MLMD lives: SQLite in the home folder, or the MySQL (or
    MariaDB) server named by the config's `metadata_store` (by default from $MNIST_PIPELINE_MLMD)."""
    from ml_metadata.proto import metadata_store_pb2

    config = config or load_config(home=home)
    connection = metadata_store_pb2.ConnectionConfig()
    if config.metadata_store:
        settings = mysql_store(config.metadata_store)
        connection.mysql.host = settings["host"]
        connection.mysql.port = settings["port"]
        connection.mysql.database = settings["database"]
        connection.mysql.user = settings["user"]
        connection.mysql.password = os.environ.get(MLMD_PASSWORD_ENV, "")
    else:
        connection.sqlite.filename_uri = str(home.metadata_db)
        connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return connection


def open_store(home: Home, config: PipelineConfig | None = None):
    from ml_metadata.metadata_store import metadata_store

    connection = connection_config(home, config)
    if connection.HasField("sqlite") and not home.metadata_db.exists():
        raise FileNotFoundError(f"no metadata store at {home.metadata_db}: no pipeline has run in this home yet")
    try:
        return metadata_store.MetadataStore(connection)
    except Exception as err:  # MLMD raises its own error types per backend
        where = f"{connection.mysql.user}@{connection.mysql.host}:{connection.mysql.port}/{connection.mysql.database}"
        raise RuntimeError(f"cannot open the metadata store at mysql://{where}: {err}") from None


def has_context_type(store, name: str = PIPELINE_RUN_CONTEXT) -> bool:
    from ml_metadata import errors

    try:
        store.get_context_type(name)
        return True
    except errors.NotFoundError:
        return False


def property_of(item, name: str, default=None):
    if name in item.custom_properties:
        value = item.custom_properties[name]
        return getattr(value, value.WhichOneof("value"))
    if name in item.properties:
        value = item.properties[name]
        return getattr(value, value.WhichOneof("value"))
    return default


def node_ids_by_context(store) -> dict[int, str]:
    """execution id -> node id, from the node contexts (named '<pipeline>.<node id>')."""
    node_of_execution = {}
    for context in store.get_contexts_by_type(NODE_CONTEXT):
        for execution in store.get_executions_by_context(context.id):
            node_of_execution[execution.id] = context.name.split(".", 1)[-1]
    return node_of_execution

