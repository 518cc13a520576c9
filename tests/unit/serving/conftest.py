"""`stored_home`: a home whose storage is a fresh prefix of the test S3 server's bucket
(`object_store`, tests/support/object_store.py: a real SeaweedFS server), for the serving tests
on a stored home."""
from __future__ import annotations

import uuid

import pytest

from pipeline.home import HOME_ENV, Home
from pipeline.storage.settings import STORAGE_ENV


@pytest.fixture
def stored_home(object_store, tmp_path, monkeypatch) -> Home:
    """A fresh home (its folder made) whose storage is a prefix of its own in the bucket, named by
    $MNIST_PIPELINE_HOME and $MNIST_PIPELINE_STORAGE, the server by the AWS variables, while the
    test runs."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STORAGE_ENV, f"s3://{object_store.bucket}/{uuid.uuid4().hex[:8]}")
    # fsspec keeps one S3 filesystem per set of arguments, whatever the AWS variables said then.
    s3fs.S3FileSystem.clear_instance_cache()
    home = Home.from_env()
    home.root.mkdir(parents=True)
    yield home
    s3fs.S3FileSystem.clear_instance_cache()
