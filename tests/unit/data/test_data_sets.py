"""Data sets and their spans (pipeline/data/data_sets.py): `mnist-pipeline data` without its
command line (that is tests/unit/cli/test_data.py)."""
import os
import signal
import subprocess
import time

import pytest

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
from pipeline.data.sources import DataError, load_idx
from tests.support.cli import command, environment
from tests.support.idx import break_idx
from tests.support.records import read_split


def _span1(home):
    return span_dir(home.mnist_data, 1)


def test_idx_folder_converts_to_tfrecords_with_the_documented_features(home, idx_folder):
    manifest = prepare(home, idx_folder)
    assert manifest["counts"] == {"train": 50, "eval": 20}
    expected = load_idx(idx_folder)
    records = read_split(_span1(home), "train")
    assert len(records) == 50
    first = records[0]
    assert set(first) == {"image_raw", "label", "height", "width", "depth"}
    assert first["image_raw"][0] == expected["train"].images[0].tobytes()
    assert len(first["image_raw"][0]) == 784
    assert list(first["label"]) == [expected["train"].labels[0]]
    assert (first["height"][0], first["width"][0], first["depth"][0]) == (28, 28, 1)
    assert len(read_split(_span1(home), "eval")) == 20


def test_limit_keeps_the_first_examples(home, idx_folder):
    prepare(home, idx_folder, limit=5)
    expected = load_idx(idx_folder)
    records = read_split(_span1(home), "eval")
    assert [r["label"][0] for r in records] == list(expected["eval"].labels[:5])


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
    path = break_idx(idx_folder, name, how)
    with pytest.raises(DataError, match=message) as err:
        prepare(home, idx_folder)
    assert path.name.split("-")[0] in str(err.value)
    # Nothing half-written: no data folder, no staging leftovers.
    assert not home.mnist_data.exists()
    assert not home.mnist_data.parent.exists() or os.listdir(home.mnist_data.parent) == []


def test_a_failed_conversion_keeps_the_previous_data(home, idx_folder):
    prepare(home, idx_folder)
    before = {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()}
    break_idx(idx_folder, "train-images-idx3-ubyte.gz", "truncate")
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
    assert [r["label"][0] for r in read_split(span2, "train")] == list(whole["train"].labels[20:40])
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


def test_a_write_killed_midway_leaves_no_span_that_a_run_would_read(home, tmp_path):
    """`data --next-span` killed (SIGKILL) while it writes: no span-2 appears; TFX's own span
    resolution over the `{SPAN}` pattern still finds span 1; the next `data` clears the leftover."""
    from tfx.components.example_gen import utils as example_gen_utils
    from tfx.proto import example_gen_pb2

    prepare(home, None, limit=100)
    writer = subprocess.Popen(command("data", "--next-span"), env=environment(home))
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


@pytest.mark.parametrize("limit, eval_limit", [(10, 4), (10, 0), (0, 5)])
def test_the_same_data_asked_for_again_is_left_as_it_is(home, idx_folder, limit, eval_limit):
    first = prepare(home, idx_folder, limit=limit, eval_limit=eval_limit)
    data_set = data_set_id(home.mnist_data)
    again = prepare(home, idx_folder, limit=limit, eval_limit=eval_limit)
    assert again.get("unchanged") and again["counts"] == first["counts"]
    assert data_set_id(home.mnist_data) == data_set
    assert not prepare(home, idx_folder, limit=limit + 1, eval_limit=eval_limit).get("unchanged")
