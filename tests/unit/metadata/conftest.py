import pytest
from ml_metadata.metadata_store import metadata_store

from pipeline.metadata.store import connection_config


@pytest.fixture
def store(home):
    """The home's (SQLite) metadata store, opened as TFX opens it, empty."""
    home.root.mkdir(parents=True)
    return metadata_store.MetadataStore(connection_config(home))
