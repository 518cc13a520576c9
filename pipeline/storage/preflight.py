"""Refusing storage that cannot serve a command, before anything is read or written.

`check` asks for the bucket, then (for the commands that write: run, resume, data, the serving
label changes) writes and removes one probe object under the storage's prefix: that proves the
endpoint answers, the credentials are accepted, the bucket exists and can be written. `refusal`
words the store's refusals met later, while reading. Each is one line saying what to fix (a
ConfigError: the CLI exits 2).
"""
from __future__ import annotations

import uuid

from pipeline.errors import ConfigError
from pipeline.storage import settings

# One attempt, a few seconds: an unreachable endpoint is refused at once, not after retries.
PROBE_CLIENT = {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 1}}


def check(storage: str, write: bool = True) -> None:
    """Refuse (ConfigError) when `storage` (s3://BUCKET/PREFIX) cannot be read, or with `write`
    written; "" (the home's folder) passes."""
    if not storage:
        return
    if storage.startswith("gs://"):
        _check_gcs(storage)
        return
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs=PROBE_CLIENT)
    probe = f"{storage[len('s3://'):]}/.write-check-{uuid.uuid4().hex[:12]}"
    try:
        # Some servers (SeaweedFS) create a missing bucket on a first write: ask for it first.
        fs.call_s3("head_bucket", Bucket=settings.bucket_of(storage))
        if write:
            fs.pipe_file(probe, b"")
            fs.rm_file(probe)
    except FileNotFoundError:
        raise ConfigError(f"storage {storage}: bucket {settings.bucket_of(storage)!r} does not exist at "
                          f"{settings.endpoint()}: create it, or point ${settings.STORAGE_ENV} (or storage in "
                          "config.yaml) at one that does") from None
    except Exception as err:
        message = refusal(storage, err)
        if message is None:
            raise
        raise ConfigError(message) from None


def refusal(storage: str, err: BaseException) -> str | None:
    """The one line that says what to fix when the store refused a request with `err` (its
    credentials, or an endpoint that does not answer); None when `err` is no such refusal (a
    missing object is the caller's to word)."""
    import botocore.exceptions

    endpoint = settings.endpoint()
    if isinstance(err, PermissionError):
        return (f"storage {storage}: {endpoint} refused the credentials ({_first_line(err)}): check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return (f"storage {storage}: no credentials for {endpoint}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
    if isinstance(err, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                        botocore.exceptions.ReadTimeoutError)) or type(err) is OSError:
        return (f"storage {storage}: cannot reach the S3 API at {endpoint} ({_first_line(err)}): check "
                "AWS_ENDPOINT_URL and that the server runs")
    return None


def _check_gcs(storage: str) -> None:
    """gs:// goes through fsspec's gcsfs, which this project does not install (nor was it run
    here: docs/storage.md); with gcsfs installed, its first write is the check."""
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        raise ConfigError(f"storage {storage}: gs:// needs fsspec's GCS filesystem: pip install gcsfs in this "
                          "environment (not installed by the project, and not tried here; docs/storage.md)") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
