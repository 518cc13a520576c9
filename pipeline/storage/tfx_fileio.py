"""TFX's fileio on object storage, through the project's file layer (fsspec).

TFX reaches files through `tfx.dsl.io.fileio`, whose only S3 support is TensorFlow's, and
TensorFlow 2.16 has none without tensorflow-io, whose S3 reads fail against SeaweedFS
(docs/storage.md). This plugin, registered ahead of TensorFlow's for `s3://` by `register()` in
every task, gives TFX's launcher, drivers and file utilities fsspec's S3 instead. TensorFlow's
own reads and writes never see `s3://`: `pipeline.storage.staging` stages them locally.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from tfx.dsl.io import filesystem, filesystem_registry

from pipeline.storage import files

# Lower is preferred: TensorFlow's plugin registers at 10, the local one at 20.
PRIORITY = 0


@dataclasses.dataclass(frozen=True)
class Stat:
    """What TFX reads of a stat: `length` and `mtime_nsec` (tf.io.gfile.stat's names)."""

    length: int
    mtime_nsec: int
    is_directory: bool


def _uri(fs, inner: str) -> str:
    return fs.unstrip_protocol(inner)


def _split(path: Any) -> tuple[Any, str]:
    return files.filesystem(path.decode() if isinstance(path, bytes) else path)


def _not_found(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except FileNotFoundError as err:
        raise filesystem.NotFoundError(str(err)) from err


class StorageFilesystem(filesystem.Filesystem):
    SUPPORTED_SCHEMES = ["s3://"]

    @staticmethod
    def open(name, mode: str = "r") -> Any:
        fs, inner = _split(name)
        return _not_found(lambda: fs.open(inner, mode))

    @staticmethod
    def copy(src, dst, overwrite: bool = False) -> None:
        fs, source = _split(src)
        _, target = _split(dst)
        if not overwrite and fs.exists(target):
            raise OSError(f"destination file {dst!r} already exists and overwrite is false")
        _not_found(lambda: fs.copy(source, target))

    @staticmethod
    def exists(path) -> bool:
        fs, inner = _split(path)
        return fs.exists(inner)

    @staticmethod
    def glob(pattern) -> list:
        fs, inner = _split(pattern)
        return [_uri(fs, p) for p in sorted(fs.glob(inner))]

    @staticmethod
    def isdir(path) -> bool:
        fs, inner = _split(path)
        return fs.isdir(inner)

    @staticmethod
    def listdir(path) -> list:
        fs, inner = _split(path)
        entries = _not_found(lambda: fs.ls(inner, detail=False))
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries if e.rstrip("/") != inner.rstrip("/")]

    @staticmethod
    def makedirs(path) -> None:
        # Object storage has no folders: a prefix exists once an object lies under it.
        pass

    @staticmethod
    def mkdir(path) -> None:
        pass

    @staticmethod
    def remove(path) -> None:
        fs, inner = _split(path)
        _not_found(lambda: fs.rm_file(inner))

    @staticmethod
    def rename(src, dst, overwrite: bool = False) -> None:
        fs, source = _split(src)
        _, target = _split(dst)
        if not overwrite and fs.exists(target):
            raise OSError(f"destination {dst!r} already exists and overwrite is false")
        _not_found(lambda: fs.mv(source, target, recursive=True))

    @staticmethod
    def rmtree(path) -> None:
        fs, inner = _split(path)
        if not files.objects(path):  # (some servers keep an emptied folder: no objects is none)
            raise filesystem.NotFoundError(f"{path} does not exist")
        fs.rm(inner, recursive=True)

    @staticmethod
    def stat(path) -> Stat:
        fs, inner = _split(path)
        info = _not_found(lambda: fs.info(inner))
        modified = info.get("LastModified")
        return Stat(length=int(info.get("size") or 0),
                    mtime_nsec=int(modified.timestamp() * 1e9) if modified is not None else 0,
                    is_directory=info.get("type") == "directory")

    @staticmethod
    def walk(top, topdown: bool = True, onerror: Callable[..., None] | None = None) -> Iterable[tuple]:
        fs, inner = _split(top)
        walked = list(fs.walk(inner, topdown=topdown))
        for root, dirs, names in walked:
            yield _uri(fs, root), list(dirs), list(names)


_registered = False


def register() -> None:
    """Make TFX's fileio use this plugin for `s3://` in this process (idempotent)."""
    global _registered
    if not _registered:
        filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(StorageFilesystem, priority=PRIORITY)
        _registered = True
