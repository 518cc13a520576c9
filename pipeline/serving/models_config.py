"""TensorFlow Serving's models config (a text-format ModelServerConfig) for one pipeline: the
versions served and their labels `stable` and `canary`.

The first pushed version is `stable`; a later one is `canary` (or `stable`, by `push_label`).
The file is validated by parsing it back with tensorflow-serving-api's own protos, then
replaces the old one atomically (`files.write_atomic`: a temporary file renamed into place in a
local home; one whole object when the home's storage is a bucket).
"""
from __future__ import annotations

from pathlib import Path

from pipeline.storage import files

LABELS = ("stable", "canary")


def _pb2():
    from tensorflow_serving.config import model_server_config_pb2

    return model_server_config_pb2


def render(name: str, base_path: str, labels: dict[str, int], standby: int | None = None) -> str:
    """The config text serving the labelled versions under their labels, and `standby` (the
    stable version before, kept loaded so that a rollback needs no load)."""
    from google.protobuf import text_format

    pb2 = _pb2()
    config = pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path, model.model_platform = name, base_path, "tensorflow"
    for version in sorted(set(labels.values()) | ({standby} if standby else set())):
        model.model_version_policy.specific.versions.append(version)
    for label, version in sorted(labels.items()):
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}: the labels are {', '.join(LABELS)}")
        model.version_labels[label] = version
    return text_format.MessageToString(config)


def parse(text: str):
    """The text as a ModelServerConfig, or ValueError saying why it is not one."""
    from google.protobuf import text_format

    config = _pb2().ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ValueError(f"not a TensorFlow Serving models config: {err}") from None
    return config


def read_labels(path: Path) -> dict[str, int]:
    """The labels in the file at `path` ({} when there is no file yet)."""
    if not path.is_file():
        return {}
    config = parse(path.read_text())
    models = config.model_config_list.config
    return dict(models[0].version_labels) if models else {}


def write(path: Path, text: str) -> None:
    """Validate `text`, then replace `path` atomically: never half-written."""
    parse(text)
    files.write_atomic(path, text)


def after_push(labels: dict[str, int], version: int, push_label: str = "canary") -> dict[str, int]:
    """The labels once `version` is pushed: the first model is stable, later ones `push_label`."""
    if push_label not in LABELS:
        raise ValueError(f"push_label must be one of {', '.join(LABELS)}, got {push_label!r}")
    labels = dict(labels)
    labels["stable" if "stable" not in labels else push_label] = version
    return labels


def sync(path: Path, name: str, base_path: str, pushed: list[int], push_label: str = "canary") -> dict[str, int]:
    # (Labels only: pipeline/serving/registry.py labels pushes as they happen, recording each.)
    """Label the pushed versions the file does not know yet (oldest first), and write the file."""
    labels = read_labels(path)
    known = set(labels.values())
    newest = max(known, default=0)
    for version in sorted(v for v in pushed if v not in known and v > newest):
        labels = after_push(labels, version, push_label)
    write(path, render(name, base_path, labels))
    return labels
