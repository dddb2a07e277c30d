"""A run's files: names, the ``files`` table, streamed files and the on-disk store.

A file is listed once it has content: uploaded through a signed URL (bytes on disk under
``<storage_dir>/files/<run db id>/``, under an opaque name, so a file name never becomes a
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
import json
import mimetypes
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runapi_server.signing import RunGrant
from runapi_server.storage.connection import Connection, Row

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


def find_file(conn: Connection, run_db_id: int, name: str) -> Row | None:
    """The run's file row with content (uploaded or streamed), else None."""
    row: Row | None = conn.execute(
        "SELECT * FROM files WHERE run_id = ? AND name = ? AND size IS NOT NULL",
        (run_db_id, name),
    ).first()
    return row


def count_files(conn: Connection, run_db_id: int) -> int:
    (count,) = conn.execute(
        "SELECT count(*) FROM files WHERE run_id = ? AND size IS NOT NULL", (run_db_id,)
    ).one()
    return int(count)


def list_files(
    conn: Connection,
    run_db_id: int,
    *,
    names: Sequence[str] | None,
    pattern: str | None,
    after: str | None,
    before: str | None,
    limit: int | None,
    from_end: bool,
) -> list[Row]:
    """Files by name: filtered by ``names`` / LIKE ``pattern``, names strictly between
    ``after`` and ``before``; at most ``limit`` from the start (or the end if ``from_end``),
    always returned in name order."""
    where = ["run_id = ?", "size IS NOT NULL"]
    params: list[object] = [run_db_id]
    if names is not None:
        where.append("name IN (SELECT value FROM json_each(?))")
        params.append(_json_list(names))
    if pattern is not None:
        where.append("name LIKE ?")
        params.append(pattern)
    if after is not None:
        where.append("name > ?")
        params.append(after)
    if before is not None:
        where.append("name < ?")
        params.append(before)
    sql = f"SELECT * FROM files WHERE {' AND '.join(where)}"
    sql += " ORDER BY name DESC" if from_end else " ORDER BY name"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = conn.execute(sql, params).all()
    return rows[::-1] if from_end else rows


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


# --------------------------------------------------------------------------- streamed files


def store_stream_lines(
    conn: Connection,
    run_db_id: int,
    name: str,
    offset: int,
    lines: Sequence[str],
    now: str,
) -> None:
    """Store streamed lines of file ``name`` by line number and keep its ``files`` row current.

    The size is kept incrementally as the byte length of the lines joined with ``"\\n"``.
    An uploaded file of that name is the final version (the SDK streams ``output.log``
    with timestamps while it runs, then uploads the plain file): lines streamed after it
    are still stored (``logLineCount``, resuming) but the upload stays the listed content.
    """
    if not lines:
        return
    existing = conn.execute(
        "SELECT size, streamed FROM files WHERE run_id = ? AND name = ?", (run_db_id, name)
    ).first()
    uploaded = existing is not None and not existing["streamed"]
    old = conn.execute(
        "SELECT coalesce(sum(length(CAST(content AS BLOB)) + 1), 0) FROM stream_lines"
        " WHERE run_id = ? AND file_name = ? AND line_no BETWEEN ? AND ?",
        (run_db_id, name, offset, offset + len(lines) - 1),
    ).one()[0]
    conn.executemany(
        "INSERT OR REPLACE INTO stream_lines (run_id, file_name, line_no, content)"
        " VALUES (?, ?, ?, ?)",
        [(run_db_id, name, offset + i, line) for i, line in enumerate(lines)],
    )
    if uploaded:
        return
    total = 0 if existing is None or existing["size"] is None else existing["size"] + 1
    total += sum(len(line.encode()) + 1 for line in lines) - old
    conn.execute(
        "INSERT INTO files (run_id, name, size, md5, mimetype, storage, streamed, updated_at)"
        " VALUES (?, ?, ?, NULL, ?, NULL, 1, ?)"
        " ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, md5 = NULL,"
        " mimetype = excluded.mimetype, storage = NULL, streamed = 1,"
        " updated_at = excluded.updated_at",
        (run_db_id, name, max(total - 1, 0), mimetype_of(name), now),
    )


def streamed_content(conn: Connection, run_db_id: int, name: str) -> bytes:
    """A streamed file's content: its lines joined with ``"\\n"``."""
    cursor = conn.execute(
        "SELECT content FROM stream_lines WHERE run_id = ? AND file_name = ? ORDER BY line_no",
        (run_db_id, name),
    )
    return "\n".join(row[0] for row in cursor).encode()


def streamed_line_count(conn: Connection, run_db_id: int, name: str) -> int:
    (count,) = conn.execute(
        "SELECT count(*) FROM stream_lines WHERE run_id = ? AND file_name = ?", (run_db_id, name)
    ).one()
    return int(count)


# --------------------------------------------------------------------------- uploads on disk


def run_dir(files_dir: Path, run_db_id: int) -> Path:
    """Directory of a run's uploaded files (opaque names inside)."""
    return files_dir / str(run_db_id)


def record_upload(
    conn: Connection,
    run_db_id: int,
    name: str,
    *,
    size: int,
    md5: str,
    storage: str,
    now: str,
) -> str | None:
    """Point file ``name`` at an uploaded blob; returns the replaced blob's storage path."""
    old = conn.execute(
        "SELECT storage FROM files WHERE run_id = ? AND name = ?", (run_db_id, name)
    ).first()
    # Streamed lines of that name stay (they count as the run's log lines); the upload
    # is the content from now on.
    conn.execute(
        "INSERT INTO files (run_id, name, size, md5, mimetype, storage, streamed, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
        " ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, md5 = excluded.md5,"
        " mimetype = excluded.mimetype, storage = excluded.storage, streamed = 0,"
        " updated_at = excluded.updated_at",
        (run_db_id, name, size, md5, mimetype_of(name), storage, now),
    )
    return None if old is None else old["storage"]


HISTORY_EXPORTS_DIR = "history-exports"
"""Under the files dir: parquet exports of run history, a folder per run db id."""


def remove_run_files(files_dir: Path, run_db_id: int) -> None:
    """Delete a run's uploaded blobs and history exports (after its rows are deleted)."""
    shutil.rmtree(run_dir(files_dir, run_db_id), ignore_errors=True)
    shutil.rmtree(files_dir / HISTORY_EXPORTS_DIR / str(run_db_id), ignore_errors=True)
