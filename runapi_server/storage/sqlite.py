"""SQLite backend: one database file (WAL) under the data dir, a connection per thread.

The schema is built and upgraded by :mod:`runapi_server.storage.migrations` when the
database is first opened. ``synchronous=FULL`` makes every acknowledged write durable
across a killed process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runapi_server.storage.connection import SQLITE, Dialect, Row
from runapi_server.storage.threads import PerThreadConnections


class SqliteResult:
    """The rows of one statement; plain tuples underneath, :class:`sqlite3.Row` on request."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def _row(self, values: tuple[Any, ...]) -> Row:
        return sqlite3.Row(self._cursor, values)

    def first(self) -> Row | None:
        values = self._cursor.fetchone()
        return None if values is None else self._row(values)

    def one(self) -> Row:
        row = self.first()
        if row is None:
            raise LookupError("the statement returned no row")
        return row

    def all(self) -> list[Row]:
        return [self._row(values) for values in self._cursor.fetchall()]

    def tuples(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        while batch := self._cursor.fetchmany(size):
            yield batch

    def __iter__(self) -> Iterator[Row]:
        return (self._row(values) for values in self._cursor)


class SqliteConnection:
    """A :class:`sqlite3.Connection` as the storage layer's :class:`Connection`."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SqliteResult:
        cursor = self.raw.cursor()
        cursor.row_factory = None
        cursor.execute(sql, params)
        return SqliteResult(cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.raw.executemany(sql, rows)


class SqliteDatabase(PerThreadConnections[SqliteConnection]):
    """One SQLite file shared by the server's threads; a connection per thread."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._write_lock = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def description(self) -> str:
        return f"database {self.path}"

    def _open(self) -> SqliteConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA busy_timeout=30000")
        return SqliteConnection(raw)

    @staticmethod
    def _close(conn: SqliteConnection) -> None:
        conn.raw.close()

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
        """A write transaction: committed on success, rolled back on any exception.

        Writers are serialised in-process (one lock) and take SQLite's write lock up
        front (BEGIN IMMEDIATE), so no "database is locked" reaches a client.
        """
        conn = self.connect()
        with self._write_lock:
            conn.raw.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.raw.execute("ROLLBACK")
                raise
            else:
                conn.raw.execute("COMMIT")
