from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.reports import schema_diff
from schema import SCHEMA_FILE


def test_curated_schema_parses_and_states_the_contract():
    schema = schema_diff.load_schema(SCHEMA_FILE)
    by_name = {f.name: f for f in schema.feature}
    assert set(by_name) == {"image_raw", "label", "height", "width", "depth"}
    assert (by_name["label"].int_domain.min, by_name["label"].int_domain.max) == (0, 9)
    assert by_name["image_raw"].type == schema_pb2.BYTES
    assert all(f.presence.min_fraction == 1.0 for f in schema.feature)
    assert by_name["height"].int_domain.min == by_name["height"].int_domain.max == 28


def test_differences_are_named_per_feature_and_field():
    curated = schema_diff.load_schema(SCHEMA_FILE)
    inferred = schema_pb2.Schema()
    text_format.Parse('feature { name: "label" type: INT presence { min_fraction: 1.0 min_count: 1 } '
                      'shape { dim { size: 1 } } }'
                      'feature { name: "extra" type: FLOAT }', inferred)
    lines = schema_diff.differences(curated, inferred)
    assert any(line.startswith("label.int_domain: curated {min: 0, max: 9") and "inferred (not set)" in line
               for line in lines)
    assert "extra: inferred only (today's data has a feature the contract does not name)" in lines
    assert "image_raw: in the curated schema only (today's data does not have it)" in lines
    assert schema_diff.differences(curated, curated) == []
