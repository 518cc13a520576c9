"""A real SeaweedFS server (pipeline/services/object_store.py): what the tests' `object_store`
(tests/support/object_store.py) serves, a server's start and clean stop, `mnist-pipeline
storage up | status | down` (pipeline/cli/storage.py) in this process, and docker-compose.yml's
s3 health check and s3-init (tests/unit/deploy/test_compose_storage.py) against it."""
from __future__ import annotations

import dataclasses
import os
import shlex
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from pipeline.services.object_store import Keys, Server, aws_environment, filesystem
from pipeline.services.processes import free_port, port_free
from tests.support.cli import run_main


def test_the_object_store_keeps_objects_for_its_keys_only(object_store):
    fs = filesystem(object_store.endpoint, object_store.keys)
    path = f"{object_store.bucket}/runs/one/model.bin"
    fs.pipe(path, b"\x00weights")
    assert filesystem(object_store.endpoint, object_store.keys).cat(path) == b"\x00weights"
    assert fs.ls(f"{object_store.bucket}/runs/one", refresh=True) == [path]
    wrong = dataclasses.replace(object_store.keys, secret_key="not-the-secret")
    with pytest.raises(PermissionError):
        filesystem(object_store.endpoint, wrong).cat(path)
    with pytest.raises(PermissionError):
        filesystem(object_store.endpoint, Keys("NOSUCHKEY", object_store.keys.secret_key)).cat(path)
    with pytest.raises(FileNotFoundError):
        fs.cat("no-such-bucket/model.bin")
    assert set(object_store.env) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
    assert object_store.env["AWS_ENDPOINT_URL"] == object_store.endpoint


def test_a_server_stops_cleanly_and_leaves_no_process_port_or_socket(tmp_path):
    server = Server(tmp_path / "store", Keys.generate(), free_port())
    server.start()
    pid, ports = server.pid, [server.s3_port, *server.ports.values()]
    assert server.answers() and [p for p in ports if port_free(p)] == []
    assert all(c.laddr.ip == "127.0.0.1" for c in psutil.Process(pid).net_connections("tcp")
               if c.status == psutil.CONN_LISTEN)
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert [p for p in ports if not port_free(p)] == []
    assert [p for p in Path("/tmp").glob("seaweedfs-*.sock") if any(f"-{port}." in p.name for port in ports)] == []
    assert "Shutting down" in server.log.read_text()  # it ran its own shutdown, not killed
    assert not server.answers()


def _exports(stdout: str) -> dict[str, str]:
    return dict(shlex.split(line)[1].split("=", 1) for line in stdout.splitlines() if line.startswith("export "))


def test_storage_up_status_down_for_the_embedded_demo(home, capsys, monkeypatch):
    port = free_port()
    folder = home.root / "object-store"
    try:
        up = run_main(capsys, "storage", "up", "--port", str(port), "--bucket", "demo")
        assert up.returncode == 0, up.stderr
        exports = _exports(up.stdout)
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert exports["MNIST_PIPELINE_STORAGE"] == "s3://demo/pipeline" and exports["AWS_REGION"]
        assert stat.S_IMODE((folder / "keys.json").stat().st_mode) == 0o600
        assert up.stderr == "" and "started" in up.stdout
        # What it prints is all a client needs: s3fs (botocore) reads the standard variables.
        monkeypatch.setattr(os, "environ", os.environ | exports)
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).pipe("demo/pipeline/kept.txt", b"kept")
        again = run_main(capsys, "storage", "up", "--port", str(port + 1))
        assert again.returncode == 0 and "runs already" in again.stdout and _exports(again.stdout) == exports
        status = run_main(capsys, "storage", "status")
        assert status.returncode == 0 and "answers" in status.stdout

        down = run_main(capsys, "storage", "down")
        assert down.returncode == 0 and down.stdout.strip() == f"stopped the object store of {folder}"
        assert run_main(capsys, "storage", "status").returncode == 1
        # Up again: the same keys, the data kept.
        assert _exports(run_main(capsys, "storage", "up", "--port", str(port), "--bucket", "demo").stdout) == exports
        assert s3fs.S3FileSystem(skip_instance_cache=True).cat("demo/pipeline/kept.txt") == b"kept"
    finally:
        run_main(capsys, "storage", "down", "--timeout", "1")


def test_compose_s_health_check_and_bucket_creation_work_on_a_real_server(object_store, resolved):
    services = resolved["services"]
    url = services["s3"]["healthcheck"]["test"][-1].replace("http://127.0.0.1:8333", object_store.endpoint)
    with urllib.request.urlopen(url, timeout=5) as answer:  # no keys
        assert answer.status == 200
    init = services["s3-init"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env |= init["environment"] | aws_environment(object_store.endpoint, object_store.keys)
    env["S3_BUCKET"] = "compose-bucket"
    assert init["command"][0] == "python"
    for _ in range(2):  # a second `up` finds the bucket
        process = subprocess.run([sys.executable, *init["command"][1:]], env=env, capture_output=True, text=True,
                                 timeout=120)
        assert process.returncode == 0 and process.stdout == process.stderr == "", process.stderr
    assert "compose-bucket" in filesystem(object_store.endpoint, object_store.keys).ls("", refresh=True)
