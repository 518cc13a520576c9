"""The project's one file layer for stored things: fsspec, seen through pathlib's API (UPath).

A local location stays a `pathlib.Path`; an `s3://` (or `gs://`) one becomes a `UPath`, whose
`/`, `exists()`, `read_bytes()`, `open()`, `iterdir()` and `glob()` go through fsspec (s3fs for S3).
Code written against `Path` then works on both, as long as it does not hand the path to `open()`,
`shutil` or `os`: `copy_file`, `upload` and `download` here do what those did. fsspec rather than
TFX's fileio: fileio imports TensorFlow (6 s), and the CLI's inspection commands must not.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import fsspec
from upath import UPath

from pipeline.storage.settings import is_remote

# Several processes write the same bucket (tasks, workers on other hosts): s3fs's cache of
# listings would hide their files from this one. Botocore's own retries bound each request.
fsspec.config.conf.setdefault("s3", {}).update({"use_listings_cache": False})

Location = str | os.PathLike


def path(location: Location) -> Path:
    """`location` as a path object: a local one is a `pathlib.Path`; a URI's is a UPath, whose
    calls go through fsspec. Typed as Path, whose API UPath implements, so that the code taking
    either has one type; what only works locally (`open()`, `os`, `shutil`) it must not be given."""
    if not is_remote(location):
        return Path(location)
    return cast(Path, UPath(str(location)))


def filesystem(location: Location) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of `location` and its path within it."""
    fs, inner = fsspec.core.url_to_fs(str(location))
    return fs, inner


def objects(location: Location) -> list[str]:
    """The stored files under a prefix, by their paths in the store (no folders: some servers,
    SeaweedFS among them, keep a folder whose objects were all removed)."""
    fs, inner = filesystem(location)
    return sorted(key for key, info in fs.find(inner, detail=True).items() if info["type"] == "file")


def copy_file(source: Location, destination: Location) -> None:
    """Copy one file, local or stored, to another place, local or stored."""
    if not is_remote(source) and not is_remote(destination):
        shutil.copyfile(source, destination)
        return
    with path(source).open("rb") as src, path(destination).open("wb") as dst:
        shutil.copyfileobj(src, dst, 8 << 20)


def write_atomic(destination: Path, content: str | bytes) -> None:
    """Write a whole file so that a reader sees the old content or the new, never a part: a local
    file through a temporary one renamed into place; a stored object is whole by itself."""
    data = content.encode() if isinstance(content, str) else content
    if is_remote(destination):
        destination.write_bytes(data)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, destination)


def remove_tree(location: Location) -> None:
    """Remove a folder and everything under it, local or stored."""
    if not is_remote(location):
        shutil.rmtree(location)
        return
    fs, inner = filesystem(location)
    fs.rm(inner, recursive=True)


@contextlib.contextmanager
def local_copy(location: Location) -> Iterator[Path]:
    """A local path with `location`'s content, for the readers that read local files only
    (TensorFlow's, TFDV's): `location` itself when local; a stored file or folder fetched to a
    temporary place, removed after the block."""
    if not is_remote(location):
        yield Path(location)
        return
    with tempfile.TemporaryDirectory(prefix="mnist-pipeline-download-") as work:
        local = Path(work) / str(location).rstrip("/").rsplit("/", 1)[-1]
        download(str(location), local)
        yield local


def upload(local_dir: Path, destination: str) -> None:
    """Put every file under `local_dir` at the same relative path under `destination` (or the
    file `local_dir` at `destination`)."""
    fs, inner = filesystem(destination)
    if local_dir.is_file():
        fs.put_file(str(local_dir), inner)
        return
    files = [p for p in sorted(local_dir.rglob("*")) if p.is_file()]
    if not files:
        # An empty folder stays one (an empty output artifact must exist for TFX's cache): the
        # folder marker S3 consoles make, a zero-byte object named with a trailing slash.
        fs.pipe_file(inner.rstrip("/") + "/", b"")
        return
    fs.put([str(p) for p in files], [f"{inner}/{p.relative_to(local_dir).as_posix()}" for p in files])


def download(source: str, local: Path) -> None:
    """Fetch the object `source` to the file `local`, or every object under the prefix `source`
    to the same relative path under the folder `local` (made)."""
    fs, inner = filesystem(source)
    if fs.isfile(inner):
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(inner, str(local))
        return
    local.mkdir(parents=True, exist_ok=True)
    found = [key for key in objects(source) if key[len(inner):].strip("/")]
    targets = [local / key[len(inner):].lstrip("/") for key in found]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    if found:
        fs.get(found, [str(t) for t in targets])
