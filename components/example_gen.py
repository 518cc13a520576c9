"""ImportExampleGen's executor without the re-encoding: the records are copied byte for byte.

TFX's ImportExampleGen runs a Beam pipeline that parses every record into a tf.Example and
serializes it again, to write the same bytes into gzipped TFRecords: 20 s for MNIST's 70,000
records, for records that `prepare_data` has already checked to be tf.Examples of the contract's
features (pipeline/data.py). This executor writes the same output (one gzipped TFRecord file
per split, named as ExampleGen names them, with the same artifact properties) by streaming the
input files through gzip: a TFRecord file is a sequence of framed records, so the concatenation
of the input files, compressed, is exactly what TFX's readers expect. The input may lie in object
storage (read through TFX's fileio, which a task points at fsspec for s3://); the output is local
(pipeline/storage/staging.py stages it). Anything else (other payloads or file formats, output
splits by hash) goes to TFX's own executor.

Beside TFX's `span` (and `version`), the examples carry the data set they belong to and the
span's source in words (from the files `mnist-pipeline data` writes beside the records), so that
the span resolver (components/spans.py) and `lineage` know which data a model saw.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from typing import Any, cast

from tfx import types
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import features

log = logging.getLogger(__name__)

# Level 1: six times faster than the default and, on MNIST, 5 % larger; readers decompress at
# the same speed whatever the level.
COMPRESS_LEVEL = 1


def _read_json(path: str) -> dict:
    """The JSON file at `path`, local or stored, or {} when there is none or it is unreadable (a
    plain folder of records has neither a data set file nor a manifest)."""
    try:
        if not fileio.exists(path):
            return {}
        with fileio.open(path, "r") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record_origin(examples: types.Artifact, base: str, input_config: example_gen_pb2.Input) -> None:
    """The data set's id (or its folder, when it has none) and the span's source, as custom
    properties of the examples."""
    data_set = _read_json(os.path.join(base, features.DATA_SET_FILE)).get("id") or base
    # A resolved split pattern is "span-3/train/*.tfrecord" (or "train/*.tfrecord"): its span's folder.
    span_folder = os.path.join(base, os.path.dirname(os.path.dirname(input_config.splits[0].pattern)))
    source = _read_json(os.path.join(span_folder, features.SPAN_MANIFEST)).get("source") or span_folder
    examples.set_string_custom_property(features.DATA_SET_PROPERTY, data_set)
    examples.set_string_custom_property(features.SOURCE_PROPERTY, source)


def _proto(message, exec_properties: dict[str, Any], key: str):
    proto_utils.json_to_proto(exec_properties[key], message)
    return message


def copy_records(files: list[str], destination: str) -> None:
    """Concatenate TFRecord files (plain or gzipped, as ImportExampleGen accepts) into one
    gzipped TFRecord file, written under a temporary name and renamed when complete."""
    partial = destination + ".partial"
    with gzip.open(partial, "wb", compresslevel=COMPRESS_LEVEL) as out:
        for path in files:
            with fileio.open(path, "rb") as raw, (gzip.open(raw, "rb") if path.endswith(".gz") else raw) as f:
                shutil.copyfileobj(f, out, 1 << 20)
    os.replace(partial, destination)


class Executor(import_executor.Executor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        input_config = _proto(example_gen_pb2.Input(), exec_properties, standard_component_specs.INPUT_CONFIG_KEY)
        output_config = _proto(example_gen_pb2.Output(), exec_properties, standard_component_specs.OUTPUT_CONFIG_KEY)
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        record_origin(examples, base, input_config)
        if (output_config.split_config.splits or payload != example_gen_pb2.FORMAT_TF_EXAMPLE
                or file_format != example_gen_pb2.FORMAT_TFRECORDS_GZIP or "://" in examples.uri):
            return super().Do(input_dict, output_dict, exec_properties)

        split_names = utils.generate_output_split_names(input_config, output_config)
        examples.split_names = artifact_utils.encode_split_names(split_names)
        for name, split in zip(split_names, input_config.splits):
            # A str pattern globs to str paths (fileio.glob is typed for bytes patterns too).
            files = sorted(cast(list[str], fileio.glob(os.path.join(base, split.pattern))))
            if not files:
                raise FileNotFoundError(f"split {name}: no files match {os.path.join(base, split.pattern)}")
            split_dir = artifact_utils.get_split_uri([examples], name)
            os.makedirs(split_dir, exist_ok=True)
            copy_records(files, os.path.join(split_dir, f"{write_split.DEFAULT_FILE_NAME}-00000-of-00001.gz"))
            log.info("split %s: copied %d file(s) from %s", name, len(files), split.pattern)
        examples_utils.set_payload_format(examples, payload)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))
