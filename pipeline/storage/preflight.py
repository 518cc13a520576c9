"""Refusing a run whose storage cannot hold it, before anything is written.

The bucket is asked for, then one probe object is written under the storage's prefix and
removed: that proves the endpoint answers, the credentials are accepted, the bucket exists and
can be written. Each failure is one
line saying what to fix (a ConfigError: the CLI exits 2).
"""
from __future__ import annotations

import uuid

from pipeline.errors import ConfigError
from pipeline.storage import settings

# One attempt, a few seconds: an unreachable endpoint is refused at once, not after retries.
_PROBE_CLIENT = {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 1}}


def check(storage: str) -> None:
    """Refuse (ConfigError) when `storage` (s3://BUCKET/PREFIX) cannot be written; "" passes."""
    if not storage:
        return  # the home's folder
    if storage.startswith("gs://"):
        _check_gcs(storage)
        return
    import botocore.exceptions
    import s3fs

    bucket, endpoint = settings.bucket_of(storage), settings.endpoint()
    fs = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs=_PROBE_CLIENT)
    probe = f"{storage[len('s3://'):]}/.write-check-{uuid.uuid4().hex[:12]}"
    try:
        # Some servers (SeaweedFS) create a missing bucket on a first write: ask for it first.
        fs.call_s3("head_bucket", Bucket=bucket)
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except FileNotFoundError:
        raise ConfigError(f"storage {storage}: bucket {bucket!r} does not exist at {endpoint}: create it, or point "
                          f"${settings.STORAGE_ENV} (or storage in config.yaml) at one that does") from None
    except PermissionError as err:
        raise ConfigError(f"storage {storage}: {endpoint} refused the credentials ({_first_line(err)}): check "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)") from None
    except botocore.exceptions.NoCredentialsError:
        raise ConfigError(f"storage {storage}: no credentials for {endpoint}: set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)") from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError, OSError) as err:
        raise ConfigError(f"storage {storage}: cannot reach the S3 API at {endpoint} ({_first_line(err)}): check "
                          "AWS_ENDPOINT_URL and that the server runs") from None


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
