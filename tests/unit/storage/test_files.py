"""The file layer on a real S3 server (SeaweedFS): the same calls, local and stored."""
import uuid
from pathlib import Path

import pytest

from pipeline.data.records import atomic_dir
from pipeline.errors import ConfigError
from pipeline.storage import files, preflight


@pytest.fixture
def prefix(object_store, monkeypatch) -> str:
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    return f"s3://{object_store.bucket}/{uuid.uuid4().hex[:8]}"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_folder_goes_up_and_comes_back_the_same(prefix, tmp_path):
    source = tmp_path / "source"
    (source / "a" / "b").mkdir(parents=True)
    (source / "top.txt").write_text("top")
    (source / "a" / "b" / "deep.bin").write_bytes(bytes(range(256)) * 1000)
    files.upload(source, f"{prefix}/tree")
    assert sorted(p.name for p in files.path(f"{prefix}/tree").iterdir()) == ["a", "top.txt"]
    files.download(f"{prefix}/tree", tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(source)
    with files.local_copy(f"{prefix}/tree/a") as local:
        assert _tree(local) == {"b/deep.bin": bytes(range(256)) * 1000}
    with files.local_copy(f"{prefix}/tree/top.txt") as local:
        assert local.read_text() == "top"
    (source / "empty").mkdir()
    files.upload(source / "empty", f"{prefix}/tree/empty")  # an empty output artifact: it exists
    assert files.path(f"{prefix}/tree/empty").is_dir()
    files.remove_tree(f"{prefix}/tree")
    assert files.objects(f"{prefix}/tree") == []


def test_writes_are_whole_and_copies_cross_between_disk_and_store(prefix, tmp_path):
    target = files.path(f"{prefix}/report/index.html")
    files.write_atomic(target, "<p>one</p>")
    files.write_atomic(target, "<p>two</p>")
    assert target.read_text() == "<p>two</p>"
    files.copy_file(target, tmp_path / "copy.html")
    assert (tmp_path / "copy.html").read_text() == "<p>two</p>"
    local = tmp_path / "local.html"
    files.write_atomic(local, b"bytes")
    assert local.read_bytes() == b"bytes" and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_stored_atomic_folder_is_all_there_or_not_there(prefix):
    destination = files.path(f"{prefix}/data/span-1")
    with pytest.raises(RuntimeError), atomic_dir(destination) as staging:
        (staging / "train").mkdir()
        (staging / "train" / "a.tfrecord").write_bytes(b"x")
        raise RuntimeError("interrupted")
    assert files.objects(str(destination)) == []
    with atomic_dir(destination) as staging:
        (staging / "manifest.json").write_text("{}")
    with atomic_dir(destination) as staging:  # replaces, as a local one does
        (staging / "other.json").write_text("{}")
    assert sorted(p.name for p in destination.iterdir()) == ["other.json"]


def test_storage_that_can_be_written_passes_the_check(prefix):
    preflight.check(prefix)
    assert files.objects(prefix) == []  # the probe is gone


@pytest.mark.parametrize("change, says", [
    ({"bucket": "no-such-bucket"}, "bucket 'no-such-bucket' does not exist"),
    ({"AWS_ACCESS_KEY_ID": "NOBODY"}, "refused the credentials"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach the S3 API at http://127.0.0.1:9"),
])
def test_storage_that_cannot_be_written_is_refused_in_one_line(prefix, monkeypatch, change, says):
    url = prefix if "bucket" not in change else f"s3://{change.pop('bucket')}/x"
    for key, value in change.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=says) as refused:
        preflight.check(url)
    assert "\n" not in str(refused.value)
