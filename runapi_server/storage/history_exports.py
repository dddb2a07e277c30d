"""Records of a run's parquet history exports (``history_exports``) and the history lines
the exporter copies into them (see :mod:`runapi_server.parquet_export`).

Each record covers lines ``first_line..last_line`` of the run's history and names its
file (relative to the storage dir); a record with path ``""`` is the exporter's stop marker.

Functions (a :class:`Connection` first): :func:`export_records`, :func:`record_export`,
:func:`seal_exports`, :func:`drop_exports`, :func:`drop_exports_between`,
:func:`exported_through`, and the line reads :func:`lines_after`,
:func:`count_lines_after`, :func:`line_at`, :func:`row_texts`, :func:`last_line`.

```python
with db.transaction() as conn:
    record_export(conn, run_id, Export(0, 99, 100, "files/history-exports/1/0-a.parquet"))
export_records(db.read(), run_id)  # -> [Export(first_line=0, last_line=99, ...)]
```
"""

from __future__ import annotations

from dataclasses import dataclass

from runapi_server.storage.connection import Connection


@dataclass(frozen=True)
class Export:
    first_line: int
    last_line: int
    row_count: int
    path: str  # relative to the storage dir
    sealed: bool = False  # the run ended with it: never merged or replaced (readers cache it)


def export_records(conn: Connection, run_id: int) -> list[Export]:
    """Every export record of the run (stop marker included), by first line."""
    return [
        Export(int(r[0]), int(r[1]), int(r[2]), str(r[3]), bool(r[4]))
        for r in conn.execute(
            "SELECT first_line, last_line, row_count, path, sealed FROM history_exports"
            " WHERE run_id = ? ORDER BY first_line",
            (run_id,),
        ).tuples()
    ]


def record_export(conn: Connection, run_id: int, export: Export) -> None:
    """Record ``export``, replacing a record of the same first line."""
    conn.execute(
        "INSERT INTO history_exports (run_id, first_line, last_line, row_count, path, sealed)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, first_line) DO UPDATE"
        " SET last_line = excluded.last_line, row_count = excluded.row_count,"
        " path = excluded.path, sealed = excluded.sealed",
        (
            run_id,
            export.first_line,
            export.last_line,
            export.row_count,
            export.path,
            int(export.sealed),
        ),
    )


def seal_exports(conn: Connection, run_id: int) -> None:
    """Seal every export of the run (the run has ended with them)."""
    conn.execute("UPDATE history_exports SET sealed = 1 WHERE run_id = ? AND sealed = 0", (run_id,))


def exported_through(conn: Connection, run_id: int) -> int | None:
    """The last line covered by the run's parquet exports, None without exports."""
    (last,) = conn.execute(
        "SELECT max(last_line) FROM history_exports WHERE run_id = ?", (run_id,)
    ).one()
    return None if last is None else int(last)


def drop_exports(conn: Connection, run_id: int, from_line: int | None = None) -> list[str]:
    """Forget the run's parquet exports (only those reaching line ``from_line`` or later
    when given, so the exports left still cover a prefix of the run); returns their paths
    (relative to the storage dir)."""
    where = "run_id = ?" if from_line is None else "run_id = ? AND last_line >= ?"
    params = (run_id,) if from_line is None else (run_id, from_line)
    found = conn.execute(f"SELECT path FROM history_exports WHERE {where}", params).tuples()
    conn.execute(f"DELETE FROM history_exports WHERE {where}", params)
    return [str(path) for (path,) in found]


def drop_exports_between(conn: Connection, run_id: int, first: int, last: int) -> None:
    """Forget the records whose first line is in ``first..last`` (their files are left
    to the orphan sweep)."""
    conn.execute(
        "DELETE FROM history_exports WHERE run_id = ? AND first_line BETWEEN ? AND ?",
        (run_id, first, last),
    )


# --------------------------------------------------------------------------- lines to export


def count_lines_after(conn: Connection, run_id: int, after: int) -> int:
    """Number of history lines after line ``after``."""
    (count,) = conn.execute(
        "SELECT count(*) FROM history WHERE run_id = ? AND line_no > ?", (run_id, after)
    ).one()
    return int(count)


def lines_after(conn: Connection, run_id: int, after: int, limit: int) -> list[tuple[int, str]]:
    """``(line_no, row text)`` of up to ``limit`` history lines after line ``after``."""
    rows = conn.execute(
        "SELECT line_no, row FROM history WHERE run_id = ? AND line_no > ?"
        " ORDER BY line_no LIMIT ?",
        (run_id, after, limit),
    ).tuples()
    return [(int(line), str(text)) for line, text in rows]


def line_at(conn: Connection, run_id: int, first: int, offset: int) -> int:
    """The line number ``offset`` stored lines on from line ``first`` (``LookupError``
    past the last line)."""
    row = conn.execute(
        "SELECT line_no FROM history WHERE run_id = ? AND line_no >= ?"
        " ORDER BY line_no LIMIT 1 OFFSET ?",
        (run_id, first, offset),
    ).one()
    return int(row[0])


def row_texts(conn: Connection, run_id: int, first: int, last: int) -> list[str]:
    """The row texts of lines ``first..last``, in line order."""
    rows = conn.execute(
        "SELECT row FROM history WHERE run_id = ? AND line_no BETWEEN ? AND ? ORDER BY line_no",
        (run_id, first, last),
    ).tuples()
    return [str(text) for (text,) in rows]


def last_line(conn: Connection, run_id: int) -> int | None:
    """The run's last history line number, None without history."""
    (last,) = conn.execute("SELECT max(line_no) FROM history WHERE run_id = ?", (run_id,)).one()
    return None if last is None else int(last)
