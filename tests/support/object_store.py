"""A real S3 server for the tests: `object_store`, one SeaweedFS server per test session and
xdist worker (pipeline.services.object_store), on free ports, its data in the worker's temporary
folder. Registered as a plugin in tests/conftest.py, so that any test, e2e ones included, can
take it."""
from __future__ import annotations

import dataclasses

import pytest

from pipeline.services.object_store import Keys, Server, aws_environment, ensure_bucket
from pipeline.services.processes import free_port

BUCKET = "mnist-test"


@dataclasses.dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    keys: Keys
    bucket: str
    # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: for a process's
    # environment (`environment(home, os.environ | store.env)` in tests/support/cli.py).
    env: dict[str, str]


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> ObjectStore:
    """A running SeaweedFS server with the bucket BUCKET: stopped at the end of the session."""
    server = Server(tmp_path_factory.mktemp("object-store"), Keys.generate(), free_port())
    server.start()
    try:
        ensure_bucket(BUCKET, server.endpoint, server.keys)
        yield ObjectStore(server.endpoint, server.keys, BUCKET, aws_environment(server.endpoint, server.keys))
    finally:
        # Its data goes with the temporary folder: no need for the 15 s of a clean stop.
        server.stop(timeout=0)
