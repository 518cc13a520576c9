"""ImportExampleGen's copying executor: the records come out as TFX's readers expect them."""

import tensorflow as tf

from components import example_gen


def _records(n: int, start: int = 0) -> list[bytes]:
    return [tf.train.Example(features=tf.train.Features(feature={"label": tf.train.Feature(
        int64_list=tf.train.Int64List(value=[i]))})).SerializeToString() for i in range(start, start + n)]


def test_plain_and_gzipped_files_become_one_gzipped_tfrecord_in_order(tmp_path):
    plain, zipped = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord.gz"
    with tf.io.TFRecordWriter(str(plain)) as writer:
        for record in _records(3):
            writer.write(record)
    with tf.io.TFRecordWriter(str(zipped), options="GZIP") as writer:
        for record in _records(2, start=3):
            writer.write(record)
    out = tmp_path / "out" / "data_tfrecord-00000-of-00001.gz"
    out.parent.mkdir()
    example_gen.copy_records([str(plain), str(zipped)], str(out))

    assert out.read_bytes()[:2] == b"\x1f\x8b"  # a gzip stream, as ExampleGen writes
    copied = [r.numpy() for r in tf.data.TFRecordDataset(str(out), compression_type="GZIP")]
    assert copied == _records(5)
    assert not list(out.parent.glob("*.partial"))
