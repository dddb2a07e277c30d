"""SQLite storage of the local server: one database file (WAL) under the data dir.

The schema is built and upgraded by :mod:`runapi_server.migrations` when the database is
first opened.

Every write goes through :func:`transaction`, which commits on success and rolls back on
any exception, so a rejected request changes nothing. ``synchronous=FULL`` makes every
acknowledged write durable across a killed process.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runapi_server import migrations


class Database:
    """One SQLite file shared by the server's threads; a connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._upgraded = False

    def connect(self) -> sqlite3.Connection:
        """The calling thread's connection, opened on first use.

        The first connection of this object brings the schema up to date
        (:func:`runapi_server.migrations.upgrade`); a database from a newer runapi raises
        :class:`runapi_server.migrations.SchemaTooNew`.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            with self._write_lock:
                if not self._upgraded:
                    try:
                        migrations.upgrade(conn, f"database {self.path}")
                    except BaseException:
                        conn.close()
                        raise
                    self._upgraded = True
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any exception.

        Writers are serialised in-process (one lock) and take SQLite's write lock up
        front (BEGIN IMMEDIATE), so no "database is locked" reaches a client.
        """
        conn = self.connect()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        """A connection for reads (autocommit; each statement sees committed data)."""
        return self.connect()
