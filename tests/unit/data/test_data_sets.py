import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.config import PipelineConfig
from pipeline.data import inputs
from pipeline.data.data_sets import (
    SPLITS,
    data_set_id,
    prepare,
    read_manifest,
    remove_partial,
    span_dir,
    spans,
    write_splits,
)
from pipeline.data.records import ASIDE, STAGING
from pipeline.data.sources import DataError, load_bundled, load_idx, read_idx_images
from tests.conftest import hold_run_lock, write_idx_images, write_idx_labels


def _parse(record: bytes) -> dict:
    example = tf.train.Example.FromString(record)
    return {k: (v.bytes_list.value or v.int64_list.value) for k, v in example.features.feature.items()}


def _records(folder: Path, split: str) -> list[dict]:
    files = [str(f) for f in inputs.split_files(folder, split)]
    return [_parse(r) for r in tf.data.TFRecordDataset(files).as_numpy_iterator()]


def _span1(home) -> Path:
    return span_dir(home.mnist_data, 1)


def test_bundled_mnist_is_the_official_split():
    splits = load_bundled()
    assert splits["train"].images.shape == (60000, 28, 28)
    assert splits["eval"].images.shape == (10000, 28, 28)
    assert splits["train"].images.dtype == np.uint8
    # The original bytes: full range, not rescaled floats.
    assert splits["train"].images.max() == 255
    assert set(np.unique(splits["eval"].labels)) == set(range(10))
    # The official test set's first labels.
    assert list(splits["eval"].labels[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_idx_folder_converts_to_tfrecords_with_the_documented_features(home, idx_folder):
    manifest = prepare(home, idx_folder)
    assert manifest["counts"] == {"train": 50, "eval": 20}
    expected = load_idx(idx_folder)
    records = _records(_span1(home), "train")
    assert len(records) == 50
    first = records[0]
    assert set(first) == {"image_raw", "label", "height", "width", "depth"}
    assert first["image_raw"][0] == expected["train"].images[0].tobytes()
    assert len(first["image_raw"][0]) == 784
    assert list(first["label"]) == [expected["train"].labels[0]]
    assert (first["height"][0], first["width"][0], first["depth"][0]) == (28, 28, 1)
    assert len(_records(_span1(home), "eval")) == 20


def test_uncompressed_and_dotted_idx_names_are_found(tmp_path):
    rng = np.random.default_rng(1)
    for prefix in ("train", "t10k"):
        write_idx_images(tmp_path / f"{prefix}-images.idx3-ubyte", rng.integers(0, 256, (3, 28, 28)))
        write_idx_labels(tmp_path / f"{prefix}-labels.idx1-ubyte", [1, 2, 3])
    assert len(load_idx(tmp_path)["eval"].labels) == 3


def test_limit_keeps_the_first_examples(home, idx_folder):
    prepare(home, idx_folder, limit=5)
    expected = load_idx(idx_folder)
    records = _records(_span1(home), "eval")
    assert [r["label"][0] for r in records] == list(expected["eval"].labels[:5])


def _break(folder: Path, name: str, how: str) -> Path:
    path = folder / name
    if how == "magic":
        images = read_idx_images(path)
        write_idx_images(path, images, magic=0x1234)
    elif how == "truncate":
        import gzip
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(raw[: len(raw) - 100]))
    elif how == "labels":
        write_idx_labels(path, [12] + [1] * 49)
    elif how == "count":
        write_idx_labels(path, [1] * 49)
    elif how == "size":
        write_idx_images(path, np.zeros((50, 32, 32), np.uint8))
    elif how == "missing":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"not gzip at all")
    elif how == "deflate":  # a valid gzip header over a damaged deflate stream: zlib.error
        damaged = bytearray(path.read_bytes())
        stream = damaged.index(b"\0", 10) + 1  # after the header and its file name
        damaged[stream:stream + 8] = b"\xff" * 8
        path.write_bytes(bytes(damaged))
    elif how == "empty":
        write_idx_images(path, np.zeros((0, 28, 28), np.uint8))
        write_idx_labels(path.with_name(path.name.replace("images-idx3", "labels-idx1")), [])
    return path


@pytest.mark.parametrize("name, how, message", [
    ("train-images-idx3-ubyte.gz", "magic", "wrong magic number 0x00001234"),
    ("train-images-idx3-ubyte.gz", "truncate", "truncated"),
    ("train-labels-idx1-ubyte.gz", "labels", "labels outside 0-9"),
    ("train-labels-idx1-ubyte.gz", "count", "50 images but .* 49 labels"),
    ("train-images-idx3-ubyte.gz", "size", "32x32"),
    ("t10k-labels-idx1-ubyte.gz", "missing", "holds no t10k-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte.gz", "garbage", "cannot be read"),
    ("train-images-idx3-ubyte.gz", "deflate", "cannot be read"),
    ("t10k-images-idx3-ubyte.gz", "empty", "holds no images"),
])
def test_bad_source_files_get_a_clear_error_naming_the_file(home, idx_folder, name, how, message):
    path = _break(idx_folder, name, how)
    with pytest.raises(DataError, match=message) as err:
        prepare(home, idx_folder)
    assert path.name.split("-")[0] in str(err.value)
    # Nothing half-written: no data folder, no staging leftovers.
    assert not home.mnist_data.exists()
    assert not home.mnist_data.parent.exists() or os.listdir(home.mnist_data.parent) == []


def test_a_failed_conversion_keeps_the_previous_data(home, idx_folder):
    prepare(home, idx_folder)
    before = {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()}
    _break(idx_folder, "train-images-idx3-ubyte.gz", "truncate")
    with pytest.raises(DataError):
        prepare(home, idx_folder, force=True)
    after = {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()}
    assert before == after
    assert sorted(os.listdir(home.mnist_data.parent)) == ["mnist"]


def test_prepare_skips_work_already_done(home, idx_folder):
    prepare(home, idx_folder)
    stamp = [p.stat().st_mtime_ns for p in inputs.split_files(_span1(home), "train")]
    prepare(home, idx_folder)
    assert stamp == [p.stat().st_mtime_ns for p in inputs.split_files(_span1(home), "train")]


def test_slices_are_written_once_and_reused(home, idx_folder):
    prepare(home, idx_folder)
    config = PipelineConfig(train_examples=10, eval_examples=4)
    chosen = inputs.ensure_input(home, config)
    folder = chosen.folder
    assert folder == inputs.input_dir(home, config) and folder != home.mnist_data
    assert chosen.span == 1 and chosen.span_folder == span_dir(folder, 1)
    assert len(_records(chosen.span_folder, "train")) == 10 and len(_records(chosen.span_folder, "eval")) == 4
    assert _records(chosen.span_folder, "train")[3] == _records(_span1(home), "train")[3]
    stamp = [p.stat().st_mtime_ns for p in folder.rglob("*.tfrecord")]
    assert inputs.ensure_input(home, config).folder == folder
    assert stamp == [p.stat().st_mtime_ns for p in folder.rglob("*.tfrecord")]
    # The whole data set needs no slice.
    assert inputs.ensure_input(home, PipelineConfig()).folder == home.mnist_data


def test_own_tfrecords_are_read_from_data_dir(home, tmp_path, idx_folder):
    write_splits(tmp_path / "mine", {k: v.head(7) for k, v in load_idx(idx_folder).items()}, "test")
    config = PipelineConfig(data_dir=str(tmp_path / "mine"))
    assert inputs.ensure_input(home, config) == inputs.Input(tmp_path / "mine", None, str(tmp_path / "mine"))
    assert not home.mnist_data.exists()  # MNIST is not prepared when the user brings data


def test_unchanged_input_is_verified_once(home, tmp_path, idx_folder, monkeypatch):
    folder = tmp_path / "mine"
    write_splits(folder, load_idx(idx_folder), "test")
    config = PipelineConfig(data_dir=str(folder))
    inputs.ensure_input(home, config)
    reads = []
    monkeypatch.setattr(inputs, "verify_records", lambda f: reads.append(f))
    inputs.ensure_input(home, config)
    assert reads == []
    path = inputs.split_files(folder, "train")[0]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))  # touched: read again
    inputs.ensure_input(home, config)
    assert reads == [folder]


def test_data_dir_without_tfrecords_is_refused(home, tmp_path):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="train/ and eval/"):
        inputs.ensure_input(home, PipelineConfig(data_dir=str(tmp_path / "empty")))


def test_corrupt_or_non_example_records_are_named(home, tmp_path, idx_folder):
    folder = tmp_path / "mine"
    write_splits(folder, load_idx(idx_folder), "test")
    assert inputs.verify_records(folder) == {"train": 50, "eval": 20}
    assert inputs.ensure_input(home, PipelineConfig(data_dir=str(folder))).folder == folder
    [path] = inputs.split_files(folder, "eval")
    path.write_bytes(path.read_bytes()[:-10])  # a file verified before, changed since
    with pytest.raises(DataError, match=f"{path}: truncated or corrupt TFRecord file, unreadable after 19"):
        inputs.ensure_input(home, PipelineConfig(data_dir=str(folder)))
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"\xff\xff not a protobuf")
    with pytest.raises(DataError, match="record 0 is not a serialized tf.Example"):
        inputs.verify_records(folder)


def _cli(home, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "MNIST_PIPELINE_HOME": str(home.root)}, timeout=300)


def test_damaged_or_empty_idx_files_never_crash_nor_replace_good_data(home, idx_folder, tmp_path):
    """`data` refuses with one line naming the file and exit 2; the prepared data stays as it was."""
    import shutil

    assert _cli(home, "data", "--idx-dir", str(idx_folder)).returncode == 0
    before = {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()}
    for how, name, message in (("deflate", "train-images-idx3-ubyte.gz", "cannot be read"),
                               ("empty", "t10k-images-idx3-ubyte.gz", "holds no images")):
        broken = tmp_path / how
        shutil.copytree(idx_folder, broken)
        _break(broken, name, how)
        refused = _cli(home, "data", "--idx-dir", str(broken), "--force")
        assert refused.returncode == 2, refused.stderr
        [line] = [line for line in refused.stderr.splitlines() if line.startswith("mnist-pipeline data:")]
        assert str(broken / name) in line and message in line
        assert "Traceback" not in refused.stderr
        assert {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()} == before


def test_a_home_that_is_a_file_gets_one_line_and_exit_2(tmp_path):
    from pipeline.home import Home

    home = Home(tmp_path / "home-file")
    home.root.write_text("a file, not a folder")
    for command in (["data", "--limit", "10"], ["run"]):
        refused = _cli(home, *command)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip() == f"mnist-pipeline {command[0]}: the home {home.root} ($MNIST_PIPELINE_HOME) " \
            "is a file, not a folder: point $MNIST_PIPELINE_HOME at a folder (it is created if missing)"


def test_data_is_not_rewritten_while_a_run_holds_the_home(home, idx_folder):
    holder = hold_run_lock(home, "manual__busy")
    try:
        refused = _cli(home, "data", "--idx-dir", str(idx_folder))
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2 and "another run is in progress" in refused.stderr
    assert "run manual__busy" in refused.stderr and not home.mnist_data.exists()


# --- Spans (issue 16) ---------------------------------------------------------------------------

def test_next_span_continues_where_the_earlier_spans_of_its_source_stopped(home, idx_folder):
    whole = load_idx(idx_folder)
    first = prepare(home, idx_folder, limit=20, eval_limit=5)
    identity = data_set_id(home.mnist_data)
    second = prepare(home, idx_folder, limit=20, eval_limit=5, next_span=True)
    third = prepare(home, idx_folder, limit=20, next_span=True)
    assert (first["span"], second["span"], third["span"]) == (1, 2, 3)
    assert second["taken"] == {"train": [20, 40], "eval": [5, 10]}
    assert third["taken"] == {"train": [40, 50], "eval": [10, 20]}  # what was left
    span2 = span_dir(home.mnist_data, 2)
    assert [r["label"][0] for r in _records(span2, "train")] == list(whole["train"].labels[20:40])
    assert data_set_id(home.mnist_data) == identity
    with pytest.raises(DataError, match="no train examples left after the 50"):
        prepare(home, idx_folder, next_span=True)
    assert list(spans(home.mnist_data)) == [1, 2, 3]


def test_a_fresh_data_set_over_several_spans_needs_force_and_gets_a_new_id(home, idx_folder):
    prepare(home, idx_folder, limit=10)
    prepare(home, idx_folder, limit=10, next_span=True)
    identity = data_set_id(home.mnist_data)
    with pytest.raises(DataError, match="holds 2 spans.*--next-span to add this batch as span 3"):
        prepare(home, idx_folder, limit=10)
    prepare(home, idx_folder, limit=10, force=True)
    assert list(spans(home.mnist_data)) == [1] and data_set_id(home.mnist_data) != identity


def test_a_run_ingests_the_oldest_span_not_yet_ingested_else_the_latest(home, idx_folder):
    for _ in range(3):
        prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    identity = data_set_id(home.mnist_data)
    asked = []

    def ingested(done):
        return lambda data_set: asked.append(data_set) or done

    chosen = inputs.ensure_input(home, PipelineConfig(), ingested(set()))
    assert (chosen.span, chosen.waiting, asked) == (1, (2, 3), [identity])
    assert inputs.ensure_input(home, PipelineConfig(), ingested({1})).span == 2
    assert inputs.ensure_input(home, PipelineConfig(), ingested({1, 2, 3})).span == 3  # a re-run: the latest


def test_cuts_of_a_data_set_follow_its_spans_cutting_each_once(home, idx_folder):
    config = PipelineConfig(train_examples=3, eval_examples=2)
    prepare(home, idx_folder, limit=10, eval_limit=4)
    prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    cut = inputs.ensure_input(home, config).folder
    assert list(spans(cut)) == [1, 2]
    assert len(_records(span_dir(cut, 2), "train")) == 3
    assert data_set_id(cut) not in (data_set_id(home.mnist_data), str(cut))
    stamp = [p.stat().st_mtime_ns for p in span_dir(cut, 1).rglob("*.tfrecord")]
    prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    assert list(spans(inputs.ensure_input(home, config).folder)) == [1, 2, 3]
    assert stamp == [p.stat().st_mtime_ns for p in span_dir(cut, 1).rglob("*.tfrecord")]


def test_a_write_killed_midway_leaves_no_span_that_a_run_would_read(home, tmp_path):
    """`data --next-span` killed (SIGKILL) while it writes: no span-2 appears; TFX's own span
    resolution over the `{SPAN}` pattern still finds span 1; the next `data` clears the leftover."""
    import signal
    import subprocess
    import sys
    import time

    from tfx.components.example_gen import utils as example_gen_utils
    from tfx.proto import example_gen_pb2

    prepare(home, None, limit=100)
    writer = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "data", "--next-span"],
                              env={**os.environ, "MNIST_PIPELINE_HOME": str(home.root)})
    deadline = time.monotonic() + 120
    staging = []
    while not staging:  # a half-written span: records in the hidden staging folder
        staging = [p for p in home.mnist_data.glob(".span-2.tmp-*/train/*.tfrecord") if p.stat().st_size > 0]
        assert writer.poll() is None and time.monotonic() < deadline, "the write ended before it could be killed"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert list(spans(home.mnist_data)) == [1]
    splits = [example_gen_pb2.Input.Split(name=s, pattern=f"span-{{SPAN}}/{s}/*.tfrecord") for s in SPLITS]
    _, span, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(str(home.mnist_data), splits)
    assert span == 1
    assert inputs.ensure_input(home, PipelineConfig()).span == 1
    assert remove_partial(home.mnist_data) and not list(home.mnist_data.glob(".span-2*"))


def test_a_home_prepared_before_spans_is_read_as_it_is_and_refuses_a_next_span(home, idx_folder):
    write_splits(home.mnist_data, load_idx(idx_folder), "idx:old")  # the layout before spans
    chosen = inputs.ensure_input(home, PipelineConfig())
    assert (chosen.folder, chosen.span) == (home.mnist_data, None)
    with pytest.raises(DataError, match="written before spans.*--force"):
        prepare(home, idx_folder, next_span=True)
    assert read_manifest(home.mnist_data)["source"] == "idx:old"


def test_a_crash_between_the_two_renames_of_a_replacement_loses_nothing(home, idx_folder):
    """`_atomic_dir` moves the old span aside before the new one moves in: killed right between
    the two renames, the old span is aside, and the next `data` (`remove_partial`) puts it back."""
    prepare(home, idx_folder, limit=10, eval_limit=4)
    span = span_dir(home.mnist_data, 1)
    before = sorted(p.relative_to(span) for p in span.rglob("*"))
    aside = span.with_name(f".{span.name}{ASIDE}deadbeef")
    os.replace(span, aside)  # where a crash after the first rename leaves it
    (home.mnist_data / f".{span.name}{STAGING}x").mkdir()  # and the new content, never moved in
    assert spans(home.mnist_data) == {}
    remove_partial(home.mnist_data)
    assert sorted(p.relative_to(span) for p in span.rglob("*")) == before
    assert [p.name for p in home.mnist_data.iterdir() if p.name.startswith(".")] == []


def test_a_torn_verification_stamp_means_verify_again_not_a_failed_run(home, idx_folder):
    prepare(home, idx_folder, limit=10, eval_limit=4)
    config = PipelineConfig()
    inputs.ensure_input(home, config)
    [stamp] = home.verified_inputs.glob("*.json")
    stamp.write_text(stamp.read_text()[:5])  # a write cut short
    assert inputs.ensure_input(home, config).span == 1
    assert json.loads(stamp.read_text())  # written whole again


@pytest.mark.parametrize("limit, eval_limit", [(10, 4), (10, 0), (0, 5)])
def test_the_same_data_asked_for_again_is_left_as_it_is(home, idx_folder, limit, eval_limit):
    first = prepare(home, idx_folder, limit=limit, eval_limit=eval_limit)
    data_set = data_set_id(home.mnist_data)
    again = prepare(home, idx_folder, limit=limit, eval_limit=eval_limit)
    assert again.get("unchanged") and again["counts"] == first["counts"]
    assert data_set_id(home.mnist_data) == data_set
    assert not prepare(home, idx_folder, limit=limit + 1, eval_limit=eval_limit).get("unchanged")
