"""The storage setting: where it comes from and what it may hold.

Credentials, endpoint and region never live here: they come from the standard AWS variables
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, or an AWS profile), which
botocore reads itself.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from pipeline.errors import ConfigError

STORAGE_ENV = "MNIST_PIPELINE_STORAGE"

CONFIG_KEY = "storage"

# s3: any S3 API (AWS, MinIO, Ceph, SeaweedFS). gs: Google Cloud Storage, through fsspec's gcsfs
# when installed (not installed, nor run, here: docs/storage.md).
SCHEMES = ("s3", "gs")


def storage_url(home_root: Path) -> str:
    """The home's storage: `storage:` in its config.yaml, else $MNIST_PIPELINE_STORAGE, else ""
    (the home's own folder); the file wins, as for the other settings with a variable. Checked:
    a value that passes names a bucket and holds no secret."""
    config_file = home_root / "config.yaml"
    value, source = _from_config(config_file), f"{CONFIG_KEY} in {config_file}"
    if not value:
        value, source = os.environ.get(STORAGE_ENV, ""), f"${STORAGE_ENV}"
    return checked(value.strip(), source)


def _from_config(config_file: Path) -> str:
    try:
        loaded = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
    except (OSError, yaml.YAMLError):
        return ""  # load_config reports a broken config file in its own words
    value = loaded.get(CONFIG_KEY) if isinstance(loaded, dict) else None
    return str(value) if value else ""


def checked(url: str, source: str = CONFIG_KEY) -> str:
    """`url` without a trailing slash, or ConfigError saying what is wrong with it."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise ConfigError(f"{source} must be empty (the home's folder) or s3://BUCKET/PREFIX (or gs://BUCKET/PREFIX), "
                          f"got {url!r}")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{source} must name a bucket and a prefix only, no credentials or options: keys go in "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the endpoint in AWS_ENDPOINT_URL")
    return url.rstrip("/")


def is_remote(location: str | os.PathLike) -> bool:
    """Whether `location` is a URI of object storage rather than a local path."""
    return "://" in str(location)


def bucket_of(url: str) -> str:
    return urlsplit(url).netloc


def endpoint() -> str:
    """Where the S3 API is, for messages: AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_S3 first), else AWS."""
    return (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            or "AWS's S3 (no AWS_ENDPOINT_URL)")
