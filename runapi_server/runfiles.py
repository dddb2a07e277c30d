"""A run's files: names, the records the ``File`` resolvers see, and the on-disk store
(their rows are in :mod:`runapi_server.storage.files`).

A file is listed once it has content: uploaded through a signed URL (an object of the
store under ``files/<run db id>/``, under an opaque name, so a file name never becomes a
path) or streamed through the file stream (lines in ``stream_lines``; the content is the
lines joined with ``"\\n"``). ``createRunFiles`` writes nothing, so pending uploads are
not listed.

```python
check_file_name("../etc/passwd")  # -> "file name must not contain '..' segments: ..."
```
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath

from runapi_server.objects import ObjectStore, key_of
from runapi_server.signing import RunGrant
from runapi_server.storage.connection import Row

MAX_NAME_LENGTH = 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Characters a file name must not hold: C0/C1 controls and line separators."""

_MIME_TYPES = {
    ".log": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".yaml": "application/x-yaml",
    ".yml": "application/x-yaml",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".html": "text/html",
    ".py": "text/x-python",
    ".patch": "text/x-diff",
    ".diff": "text/x-diff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}


def check_file_name(name: str) -> str | None:
    """None when ``name`` is a safe relative file name, else why it is not."""
    if not name:
        return "file name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"file name longer than {MAX_NAME_LENGTH} characters"
    if "\x00" in name:
        return f"file name must not contain NUL bytes: {name!r}"
    if _CONTROL.search(name):
        return f"file name must not contain control characters (newline, tab ...): {name!r}"
    if "\\" in name:
        return f"file name must not contain backslashes: {name!r}"
    if name.startswith("/"):
        return f"file name must be relative, not absolute: {name!r}"
    segments = name.split("/")
    if ".." in segments:
        return f"file name must not contain '..' segments: {name!r}"
    if any(segment in ("", ".") for segment in segments):
        return f"file name must not contain empty or '.' segments: {name!r}"
    return None


def mimetype_of(name: str) -> str:
    """The MIME type for a file name (``output.log`` -> ``text/plain``)."""
    suffix = PurePosixPath(name).suffix.lower()
    known = _MIME_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]
    return known or "application/octet-stream"


def md5_base64(data: bytes) -> str:
    """W&B's md5 format: base64 of the raw digest."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def file_id(run_db_id: int, name: str) -> str:
    """Opaque id of a run's file."""
    return base64.b64encode(f"File:v1:{run_db_id}:{name}".encode()).decode()


@dataclass(frozen=True)
class FileRecord:
    """One file of a run as the ``File`` resolvers see it (pending: no size yet)."""

    run_db_id: int
    entity: str
    project: str
    run_name: str
    name: str
    size: int | None = None
    md5: str | None = None
    updated_at: str | None = None
    streamed: bool = False
    storage: str | None = None
    run_key: str = ""
    """The run's ``url_key``, named in the file's signed URLs."""
    upload_url: str | None = None
    """An upload URL made for it already (a bucket's pre-signed PUT, by ``createRunFiles``)."""

    @property
    def grant(self) -> RunGrant:
        return RunGrant(self.entity, self.project, self.run_name, self.run_key)

    @property
    def id(self) -> str:
        return file_id(self.run_db_id, self.name)

    @property
    def mimetype(self) -> str:
        return mimetype_of(self.name)


def record_of(run: Row, row: Row) -> FileRecord:
    """A :class:`FileRecord` from a ``RUN_SELECT`` run row and a ``files`` row."""
    return FileRecord(
        run_db_id=run["id"],
        entity=run["entity"],
        project=run["project_name"],
        run_name=run["name"],
        name=row["name"],
        size=row["size"],
        md5=row["md5"],
        updated_at=row["updated_at"],
        streamed=bool(row["streamed"]),
        storage=row["storage"],
        run_key=run["url_key"],
    )


def pending_record(run: Row, name: str) -> FileRecord:
    return FileRecord(
        run_db_id=run["id"], entity=run["entity"], project=run["project_name"],
        run_name=run["name"], name=name, run_key=run["url_key"],
    )  # fmt: skip


# --------------------------------------------------------------------------- stored objects


def run_prefix(run_db_id: int) -> str:
    """The key folder of a run's uploaded files (opaque names inside)."""
    return key_of(run_db_id) + "/"


def new_file_key(run_db_id: int) -> str:
    """A fresh opaque key for an upload of the run (a file name never becomes a path)."""
    return key_of(run_db_id, secrets.token_hex(16))


HISTORY_EXPORTS_DIR = "history-exports"
"""Under ``files/``: parquet exports of run history, a folder per run db id."""


def exports_prefix(run_db_id: int) -> str:
    return key_of(HISTORY_EXPORTS_DIR, run_db_id) + "/"


def remove_run_files(store: ObjectStore, run_db_id: int) -> None:
    """Delete a run's uploaded objects and history exports (after its rows are deleted)."""
    store.delete_prefix(run_prefix(run_db_id))
    store.delete_prefix(exports_prefix(run_db_id))
