"""TFX's fileio on a real S3 server, through the plugin a task registers (pipeline/storage/tfx_fileio.py)."""
import uuid

import pytest
from tfx.dsl.io import fileio, filesystem
from tfx.utils import io_utils

from pipeline.storage import tfx_fileio


@pytest.fixture
def prefix(object_store, monkeypatch) -> str:
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    tfx_fileio.register()
    return f"s3://{object_store.bucket}/{uuid.uuid4().hex[:8]}"


def test_tfx_reads_writes_lists_and_removes_stored_files(prefix, tmp_path):
    fileio.makedirs(f"{prefix}/a/Split-train")
    with fileio.open(f"{prefix}/a/Split-train/data.tfrecord.gz", "wb") as f:
        f.write(b"records")
    io_utils.write_string_file(f"{prefix}/a/schema.pbtxt", "feature {}")
    assert fileio.exists(f"{prefix}/a/schema.pbtxt") and fileio.isdir(f"{prefix}/a")
    assert sorted(fileio.listdir(f"{prefix}/a")) == ["Split-train", "schema.pbtxt"]
    assert fileio.glob(f"{prefix}/a/Split-*/*.gz") == [f"{prefix}/a/Split-train/data.tfrecord.gz"]
    assert fileio.stat(f"{prefix}/a/schema.pbtxt").length == len("feature {}")
    walked = {top: files for top, _, files in fileio.walk(f"{prefix}/a")}
    assert walked[f"{prefix}/a/Split-train"] == ["data.tfrecord.gz"]
    # ImportExampleGen's fingerprint of its input: sizes and modification times.
    assert "num_files:1,total_bytes:7" in io_utils.generate_fingerprint("train", f"{prefix}/a/Split-*/*.gz")
    local = tmp_path / "model"
    (local / "variables").mkdir(parents=True)
    (local / "saved_model.pb").write_bytes(b"pb")
    (local / "variables" / "variables.index").write_bytes(b"index")
    io_utils.copy_dir(str(local), f"{prefix}/pushed/1")  # what the Pusher does
    assert fileio.exists(f"{prefix}/pushed/1/variables/variables.index")
    fileio.rmtree(f"{prefix}/a")
    assert not fileio.exists(f"{prefix}/a/schema.pbtxt")
    with pytest.raises(filesystem.NotFoundError):
        fileio.rmtree(f"{prefix}/a")
    with pytest.raises(filesystem.NotFoundError):
        fileio.open(f"{prefix}/nothing", "rb").read()
