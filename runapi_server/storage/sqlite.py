"""SQLite backend: one database file (WAL) under the data dir, a connection per thread.

The schema is built and upgraded by :mod:`runapi_server.storage.migrations` when the
database is first opened. ``synchronous=FULL`` makes every acknowledged write durable
across a killed process: a commit returns once its pages are synced in the WAL.

Copying the WAL back into the database file (a checkpoint, which syncs the database
file too) is not a commit's job here: SQLite's automatic checkpoint is off and a
background thread (:class:`Checkpointer`) does it after writes, so a large post does
not wait for it (it was half the time of a 20,000-row post's commit). Durability does
not depend on it: committed pages are in the WAL, which SQLite reads and recovers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
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


log = logging.getLogger("runapi_server")

CHECKPOINT_CHANGES = 1000
"""Rows written since the last checkpoint that call for the next one ..."""
CHECKPOINT_SECONDS = 1.0
"""... or seconds since the last one, whichever comes first (after a write)."""
IDLE_SECONDS = 30.0
"""The checkpointer thread ends (and closes its connection) after this long unused."""


BUSY_SECONDS = 30.0
"""How long a connection waits for a lock another one holds."""
MMAP_BYTES = 1 << 40
"""How much of the database file a connection reads through a memory map (SQLite caps it
at its compile-time limit, 2 GB in the usual builds): a page read is a memory access, not
a ``pread`` call. A sampled history reads 500 rows spread over a whole run, each on a page
of its own: 3.8 ms -> 1.6 ms for 1,000,000 rows. The map is the kernel's page cache,
shared by every connection and worker process."""


class Checkpointer:
    """Copies the WAL into the database file in a thread of its own, after writes
    (:meth:`written`): once ``CHECKPOINT_CHANGES`` rows were changed since the last
    checkpoint, or ``CHECKPOINT_SECONDS`` went by. A passive checkpoint: it never
    blocks readers or writers, and copies what no reader still needs (the WAL starts
    over once all of it is copied)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._changes = 0
        self._last = time.monotonic()

    def written(self, changes: int) -> None:
        """Count ``changes`` rows just committed; wake the thread when a checkpoint is due."""
        with self._lock:
            self._changes += changes
            now = time.monotonic()
            if self._changes < CHECKPOINT_CHANGES and now - self._last < CHECKPOINT_SECONDS:
                return
            self._changes = 0
            self._last = now
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runapi-checkpoint", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def _loop(self) -> None:
        raw = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        try:
            raw.execute("PRAGMA synchronous=FULL")
            raw.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
            while True:
                if not self._wake.wait(IDLE_SECONDS):
                    with self._lock:
                        if not self._wake.is_set():
                            self._thread = None
                            return
                self._wake.clear()
                try:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # the next write asks again
                    log.exception("checkpoint of %s failed", self.path)
        finally:
            raw.close()


def _use_wal(raw: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so). The switch needs the file to itself, and
    SQLite refuses it at once ("database is locked", without the busy handler: waiting
    there could deadlock) while another connection holds a lock on it, as when a server's
    threads or worker processes first open a new database together: retried, for as long
    as the busy timeout."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            raw.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


class SqliteDatabase(PerThreadConnections[SqliteConnection]):
    """One SQLite file shared by the server's threads; a connection per thread."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._write_lock = threading.Lock()
        self._checkpointer = Checkpointer(path)

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def description(self) -> str:
        return f"database {self.path}"

    def _open(self) -> SqliteConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = sqlite3.connect(
            self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        _use_wal(raw)
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        raw.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
        raw.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return SqliteConnection(raw)

    @staticmethod
    def _close(conn: SqliteConnection) -> None:
        conn.raw.close()

    @contextmanager
    def transaction(self, run_id: int | None = None) -> Iterator[SqliteConnection]:
        """A write transaction: committed on success, rolled back on any exception
        (``run_id`` changes nothing here: SQLite has one writer at a time).

        Writers are serialised in-process (one lock) and take SQLite's write lock up
        front (BEGIN IMMEDIATE), so no "database is locked" reaches a client.
        """
        conn = self.connect()
        with self._write_lock:
            conn.raw.execute("BEGIN IMMEDIATE")
            before = conn.raw.total_changes
            try:
                yield conn
            except BaseException:
                conn.raw.execute("ROLLBACK")
                raise
            else:
                conn.raw.execute("COMMIT")
                changes = conn.raw.total_changes - before
        if changes:
            self._checkpointer.written(changes)
