"""Where every byte the server keeps outside the database lives: one :class:`ObjectStore`.

Run files, artifact blobs, their multipart parts, manifests and history exports are
*objects* named by *keys*: the storage paths the database rows hold (``files/12/ab34...``,
relative to the storage root). Two stores implement the seam:

- :class:`runapi_server.objects.local.LocalStore`: a directory (the data dir, or a
  network filesystem shared by several servers): writes go to a temporary file in the
  object's folder, are fsynced and renamed into place;
- :class:`runapi_server.objects.s3.S3Store`: an S3-compatible bucket (``s3://bucket/prefix``,
  the ``s3`` extra), which can also hand clients pre-signed URLs (:class:`Bucket`).

Writers make a staging file (:meth:`ObjectStore.staging`), write it and hand it over
(:meth:`ObjectStore.place`): an object is never seen half-written.

```python
store = LocalStore(Path("data"))
tmp = store.staging("files/12/ab34")
tmp.write_bytes(b"hello")
store.place(tmp, "files/12/ab34")
store.size("files/12/ab34")  # 5
b"".join(store.open_range("files/12/ab34", 1, 3) or [])  # b"ell"
```
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

FILES = "files"
"""Every key starts with this folder (the layout of data dirs made before the seam)."""


class BadKey(ValueError):
    """A storage path from a row that is no key of this store (outside ``files/``)."""


def check_key(key: str) -> str:
    """``key`` when it is a relative path under ``files/`` without ``..``/``.``/empty
    segments; :class:`BadKey` otherwise."""
    parts = key.split("/")
    if (
        len(parts) < 2
        or parts[0] != FILES
        or any(p in ("", ".", "..") for p in parts)
        or "\\" in key
        or "\x00" in key
    ):
        raise BadKey(f"not a storage key: {key!r}")
    return key


def key_of(*parts: str | int) -> str:
    """The key ``files/<parts...>``: ``key_of(12, "ab34") == "files/12/ab34"``."""
    return str(PurePosixPath(FILES, *(str(p) for p in parts)))


def discard(store: ObjectStore, key: str) -> None:
    """Delete the object a row names; a row's path that is no key is left alone."""
    with contextlib.suppress(BadKey):
        store.delete(key)


@dataclass(frozen=True)
class Listed:
    """One object of a listing: its key and when it was last written (epoch seconds)."""

    key: str
    modified: float


class ObjectStore(Protocol):
    """The bytes outside the database. Keys are checked with :func:`check_key`; a missing
    object is ``None`` (sizes, reads), never an exception; deleting one is a no-op."""

    @property
    def description(self) -> str:
        """Where the objects are, for messages: a directory or ``s3://bucket/prefix``."""
        ...

    def staging(self, key: str) -> Path:
        """A new local file name to write ``key``'s bytes to before :meth:`place` (its
        folder exists). The caller removes it when it gives up."""
        ...

    def place(self, tmp: Path, key: str, *, durable: bool = True) -> None:
        """Make the written staging file ``tmp`` the object ``key`` (replacing any), at
        once; ``tmp`` is gone afterwards, also on failure. ``durable``: synced first."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size in bytes; None when there is no such object."""
        ...

    def read_bytes(self, key: str) -> bytes | None:
        """The object's whole content (for small objects: manifests, export parts)."""
        ...

    def tail(self, key: str, length: int) -> bytes | None:
        """The object's last ``length`` bytes (fewer when it is shorter)."""
        ...

    def open_range(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Iterator[bytes] | None:
        """The object's bytes from ``start`` (``length`` of them, else to the end), in
        chunks; opened now (None when missing), read as iterated."""
        ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object whose key starts with ``prefix`` (a folder: ends in ``/``)."""
        ...

    def listing(self, prefix: str) -> Iterator[Listed]:
        """The objects under ``prefix`` (a folder), any order."""
        ...

    def remove_stale_staging(self, idle_s: float) -> int:
        """Remove staging files untouched for ``idle_s`` seconds (left by a killed
        server); how many."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file when the store is a directory (to serve it with sendfile),
        else None."""
        ...


def remove_idle(paths: Iterator[Path], idle_s: float) -> int:
    """Remove the files of ``paths`` unchanged for ``idle_s`` seconds; how many went (a
    file another process removed first is skipped). The stores' staging sweep."""
    cutoff = time.time() - idle_s
    removed = 0
    for path in paths:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
