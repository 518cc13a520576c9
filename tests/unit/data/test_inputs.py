"""What a run reads (pipeline/data/inputs.py): its span of the data set, its slice, the user's own
TFRecords, each checked once."""
import json
import os

import pytest
import tensorflow as tf

from pipeline.config import PipelineConfig
from pipeline.data import inputs
from pipeline.data.data_sets import data_set_id, prepare, span_dir, spans, write_splits
from pipeline.data.sources import DataError, load_idx
from tests.support.records import read_split


def test_slices_are_written_once_and_reused(home, idx_folder):
    prepare(home, idx_folder)
    config = PipelineConfig(train_examples=10, eval_examples=4)
    chosen = inputs.ensure_input(home, config)
    folder = chosen.folder
    assert folder == inputs.input_dir(home, config) and folder != home.mnist_data
    assert chosen.span == 1 and chosen.span_folder == span_dir(folder, 1)
    assert len(read_split(chosen.span_folder, "train")) == 10 and len(read_split(chosen.span_folder, "eval")) == 4
    assert read_split(chosen.span_folder, "train")[3] == read_split(span_dir(home.mnist_data, 1), "train")[3]
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


def test_a_run_started_by_a_span_s_event_ingests_that_span(home, idx_folder):
    for _ in range(3):
        prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    chosen = inputs.ensure_input(home, PipelineConfig(), lambda _: {1}, span=3)
    assert (chosen.span, chosen.waiting) == (3, ())
    assert inputs.ensure_input(home, PipelineConfig(), lambda _: set(), span=2).waiting == (3,)
    with pytest.raises(DataError, match="started for span 7, which .* does not hold .its spans: 1, 2, 3."):
        inputs.ensure_input(home, PipelineConfig(), span=7)


def test_cuts_of_a_data_set_follow_its_spans_cutting_each_once(home, idx_folder):
    config = PipelineConfig(train_examples=3, eval_examples=2)
    prepare(home, idx_folder, limit=10, eval_limit=4)
    prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    cut = inputs.ensure_input(home, config).folder
    assert list(spans(cut)) == [1, 2]
    assert len(read_split(span_dir(cut, 2), "train")) == 3
    assert data_set_id(cut) not in (data_set_id(home.mnist_data), str(cut))
    stamp = [p.stat().st_mtime_ns for p in span_dir(cut, 1).rglob("*.tfrecord")]
    prepare(home, idx_folder, limit=10, eval_limit=4, next_span=True)
    assert list(spans(inputs.ensure_input(home, config).folder)) == [1, 2, 3]
    assert stamp == [p.stat().st_mtime_ns for p in span_dir(cut, 1).rglob("*.tfrecord")]


def test_a_torn_verification_stamp_means_verify_again_not_a_failed_run(home, idx_folder):
    prepare(home, idx_folder, limit=10, eval_limit=4)
    config = PipelineConfig()
    inputs.ensure_input(home, config)
    [stamp] = home.verified_inputs.glob("*.json")
    stamp.write_text(stamp.read_text()[:5])  # a write cut short
    assert inputs.ensure_input(home, config).span == 1
    assert json.loads(stamp.read_text())  # written whole again

