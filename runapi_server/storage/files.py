"""A run's files: the ``files`` table and the streamed lines of ``stream_lines``.

A ``files`` row exists for an uploaded file (``storage`` names its bytes under the data
dir) or a streamed one (``streamed`` = 1: its content is the run's lines of that name in
``stream_lines``, joined with ``"\\n"``); ``size`` is NULL while it has no content.

- reading: :func:`find_file`, :func:`count_files`, :func:`list_files`,
  :func:`streamed_content`, :func:`streamed_line_count`;
- writing: :func:`store_stream_lines`, :func:`record_upload`;
- uploads to a bucket's pre-signed URLs not seen yet: :func:`add_pending_upload`,
  :func:`pending_uploads`, :func:`drop_pending_upload`.

```python
with db.transaction() as conn:
    store_stream_lines(conn, run_db_id, "output.log", 0, ["hello", "world"],
                       mimetype="text/plain", now=now)
streamed_content(db.read(), run_db_id, "output.log")  # b"hello\\nworld"
list_files(db.read(), run_db_id, names=None, pattern="%.log", after=None, before=None,
           limit=10, from_end=False)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runapi_server.storage.connection import Connection, Row

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


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
    """Files with content by name: filtered by ``names`` and the SQL LIKE ``pattern``
    (``%`` any run of characters, ``_`` one character, ASCII letters in either case),
    names strictly between ``after`` and ``before`` (by code point); at most ``limit``
    from the start (or the end if ``from_end``), always returned in name order."""
    name = conn.dialect.binary_text("name")
    where = ["run_id = ?", "size IS NOT NULL"]
    params: list[Any] = [run_db_id]
    if names is not None:
        fragment, param = conn.dialect.text_list(names)
        where.append(f"name IN {fragment}")
        params.append(param)
    if after is not None:
        where.append(f"{name} > ?")
        params.append(after)
    if before is not None:
        where.append(f"{name} < ?")
        params.append(before)
    sql = f"SELECT * FROM files WHERE {' AND '.join(where)}"
    sql += f" ORDER BY {name} DESC" if from_end else f" ORDER BY {name}"
    matches = None if pattern is None else like_matcher(pattern)
    if matches is None and limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows: list[Row] = []
    if limit is None or limit > 0:
        for row in conn.execute(sql, params):
            if matches is None or matches(row["name"]):
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
    return rows[::-1] if from_end else rows


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a text matches SQL LIKE ``pattern`` as SQLite reads it: ``%`` any run of
    characters, ``_`` any one character, no escape character, ASCII letters matched in
    either case (other characters exactly). Linear in the text times the pattern.

    ```python
    like_matcher("%.PNG")("media/x.png")  # True
    ```
    """
    folded = pattern.translate(_ASCII_LOWER)

    def matches(text: str) -> bool:
        return _like(folded, text.translate(_ASCII_LOWER))

    return matches


def _like(pattern: str, text: str) -> bool:
    # The classic wildcard walk: on a mismatch, go back to just after the last '%' and
    # let it swallow one more character of the text.
    p = t = 0
    star = -1
    resume = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "%":
            star, resume = p, t
            p += 1
        elif p < len(pattern) and pattern[p] in ("_", text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return all(c == "%" for c in pattern[p:])


# --------------------------------------------------------------------------- streamed files


def store_stream_lines(
    conn: Connection,
    run_db_id: int,
    name: str,
    offset: int,
    lines: Sequence[str],
    *,
    mimetype: str,
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
        f"SELECT coalesce(sum({conn.dialect.byte_length('content')} + 1), 0) FROM stream_lines"
        " WHERE run_id = ? AND file_name = ? AND line_no BETWEEN ? AND ?",
        (run_db_id, name, offset, offset + len(lines) - 1),
    ).one()[0]
    conn.executemany(
        "INSERT INTO stream_lines (run_id, file_name, line_no, content) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id, file_name, line_no) DO UPDATE SET content = excluded.content",
        [(run_db_id, name, offset + i, line) for i, line in enumerate(lines)],
    )
    if uploaded:
        return
    total = 0 if existing is None or existing["size"] is None else existing["size"] + 1
    total += sum(len(line.encode()) + 1 for line in lines) - int(old)
    conn.execute(
        "INSERT INTO files (run_id, name, size, md5, mimetype, storage, streamed, updated_at)"
        " VALUES (?, ?, ?, NULL, ?, NULL, 1, ?)"
        " ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, md5 = NULL,"
        " mimetype = excluded.mimetype, storage = NULL, streamed = 1,"
        " updated_at = excluded.updated_at",
        (run_db_id, name, max(total - 1, 0), mimetype, now),
    )


def streamed_content(conn: Connection, run_db_id: int, name: str) -> bytes:
    """A streamed file's content: its lines joined with ``"\\n"``."""
    rows = conn.execute(
        "SELECT content FROM stream_lines WHERE run_id = ? AND file_name = ? ORDER BY line_no",
        (run_db_id, name),
    ).tuples()
    return "\n".join(row[0] for row in rows).encode()


def streamed_line_count(conn: Connection, run_db_id: int, name: str) -> int:
    (count,) = conn.execute(
        "SELECT count(*) FROM stream_lines WHERE run_id = ? AND file_name = ?", (run_db_id, name)
    ).one()
    return int(count)


# --------------------------------------------------------------------------- uploads


def record_upload(
    conn: Connection,
    run_db_id: int,
    name: str,
    *,
    size: int,
    md5: str,
    mimetype: str,
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
        (run_db_id, name, size, md5, mimetype, storage, now),
    )
    return None if old is None else old["storage"]


# --------------------------------------------------------------------------- pending uploads


def add_pending_upload(
    conn: Connection, run_db_id: int, name: str, storage: str, created_s: int
) -> None:
    """Record that an upload URL for ``name`` puts to the object ``storage``."""
    conn.execute(
        "INSERT INTO pending_uploads (run_id, name, storage, created_s) VALUES (?, ?, ?, ?)",
        (run_db_id, name, storage, created_s),
    )


def pending_uploads(conn: Connection, run_db_id: int) -> list[Row]:
    """The run's pending uploads (``id``, ``name``, ``storage``, ``created_s``), oldest first."""
    rows: list[Row] = conn.execute(
        "SELECT id, name, storage, created_s FROM pending_uploads WHERE run_id = ? ORDER BY id",
        (run_db_id,),
    ).all()
    return rows


def drop_pending_upload(conn: Connection, pending_id: int) -> bool:
    """Forget a pending upload; False when it was already gone (another server took it)."""
    return conn.execute("DELETE FROM pending_uploads WHERE id = ?", (pending_id,)).rowcount > 0
