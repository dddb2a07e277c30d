"""The storage dir as an :class:`runapi_server.objects.ObjectStore`: ``<root>/<key>``.

Writes go to ``.<random>.tmp`` in the object's own folder (same filesystem, so the rename
is atomic), are fsynced, renamed into place, and the folder is fsynced.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from runapi_server.objects import FILES, Listed, check_key, remove_idle

CHUNK = 1024 * 1024
STAGING_GLOB = "*/.*.tmp"
"""Staging files of uploads, as named by :meth:`LocalStore.staging` (one folder below
``files/``: run folders and ``artifacts/``)."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(path: Path, start: int, length: int | None) -> Iterator[bytes]:
    """The bytes of ``path`` from ``start`` on (``length`` of them, or to the end). The
    file is opened by the first iteration, inside the generator: a response whose body is
    never read (the client went away first) leaves no open file behind."""
    with path.open("rb") as handle:
        handle.seek(start)
        left = length
        while left is None or left > 0:
            chunk = handle.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            yield chunk


class LocalStore:
    """Objects as files under ``root`` (the storage dir; keys start with ``files/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files = root / FILES

    @property
    def description(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        """The file of ``key`` (checked: under ``<root>/files``)."""
        return self.root / check_key(key)

    def staging(self, key: str) -> Path:
        folder = self.path(key).parent
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".{secrets.token_hex(16)}.tmp"

    def place(self, tmp: Path, key: str, *, durable: bool = True) -> None:
        final = self.path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if durable:
                with tmp.open("rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable:
            fsync_dir(final.parent)

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def tail(self, key: str, length: int) -> bytes | None:
        try:
            with self.path(key).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - length))
                return handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def open_range(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Iterator[bytes] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        return _chunks(path, start, length)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        folder = self.path(prefix.rstrip("/"))
        if prefix.endswith("/"):
            shutil.rmtree(folder, ignore_errors=True)
            return
        for path in folder.parent.glob(folder.name + "*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[Listed]:
        folder = self.path(prefix.rstrip("/"))
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            try:
                if path.is_file():
                    key = path.relative_to(self.root).as_posix()
                    yield Listed(key, path.stat().st_mtime)
            except FileNotFoundError:
                continue

    def remove_stale_staging(self, idle_s: float) -> int:
        return remove_idle(self._files.glob(STAGING_GLOB), idle_s)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)
