"""The database a server opens: SQLite (the default) or PostgreSQL, behind one interface.

```python
db = open_database("postgresql://runapi@db/runapi", data_dir=Path("data"))
with db.transaction() as conn:       # commits on success, rolls back on any exception
    ...
rows = db.read().execute("SELECT name FROM users").all()
```

A data dir opened with a PostgreSQL URL records it (``database.url``, mode 0600, as it
holds the password): the dir keeps that database's files, so opening the dir again
without a URL (``runapi users``, a restart) reaches the same database, and opening it
with another database is refused.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from runapi_server.storage.connection import Connection, Dialect
from runapi_server.storage.sqlite import SqliteDatabase

DB_FILE = "runapi.sqlite3"
URL_FILE = "database.url"


class Database(Protocol):
    """Where the server's rows live; every storage module takes one of its connections."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def description(self) -> str:
        """What to name in messages: ``database /path/runapi.sqlite3`` or the URL sans password."""

    def transaction(self, run_id: int | None = None) -> AbstractContextManager[Connection]:
        """A write transaction: committed on success, rolled back on any exception.

        Writers are serialised (one at a time per database, across processes), so a
        read-modify-write inside a transaction never races another writer. With
        ``run_id``, a transaction that changes only that run's rows (and adds shared
        rows only with ``ON CONFLICT DO NOTHING``, in a fixed order): it is serialised
        with every other transaction of that run and with every transaction without
        ``run_id``, while on PostgreSQL those of other runs may run meanwhile
        (:meth:`Dialect.begin_run_write`).
        """

    def read(self) -> Connection:
        """A connection for reads (autocommit; each statement sees committed data)."""

    def close(self) -> None:
        """Close every connection of every thread (server shutdown); a later use reopens."""


def is_database_url(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://"))


def open_database(spec: str | None, data_dir: Path) -> Database:
    """The database ``spec`` names: a PostgreSQL URL, or ``None`` for the one this data
    dir was opened with before (the SQLite file in ``data_dir`` if none). Nothing is
    connected until first use; a URL is recorded in the data dir (see above).

    Raises ``ValueError`` for a spec that is not a PostgreSQL URL, a data dir that holds
    another database's files, or a missing ``postgresql`` extra.
    """
    spec = _recorded(spec, data_dir)
    if spec is None:
        return SqliteDatabase(data_dir / DB_FILE)
    try:
        # psycopg comes with the server's postgresql extra: imported only when asked for
        from runapi_server.storage.postgres import PostgresDatabase
    except ImportError as exc:
        raise ValueError(
            f"--database {spec.partition(':')[0]}://...: PostgreSQL needs the postgresql"
            f" extra (pip install 'runapi[server,postgresql]'): {exc}"
        ) from exc
    return PostgresDatabase(spec)


def _recorded(spec: str | None, data_dir: Path) -> str | None:
    """``spec`` checked against (and recorded in) the data dir's ``database.url``."""
    if spec is not None and not is_database_url(spec):
        raise ValueError(
            f"--database {spec!r}: expected a postgresql://user:password@host:port/dbname URL"
            " (leave it out for the SQLite file in the data dir)"
        )
    record = data_dir / URL_FILE
    recorded = record.read_text().strip() if record.exists() else None
    if spec is None or spec == recorded:
        return recorded
    if recorded is not None:
        raise ValueError(
            f"data dir {data_dir} holds the files of another database; use a new data dir"
            " for this one (or leave --database out to use the recorded one)"
        )
    if (data_dir / DB_FILE).exists():
        raise ValueError(
            f"data dir {data_dir} holds a SQLite database ({DB_FILE}); use a new data dir"
            " for a PostgreSQL database"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(spec + "\n")
    tmp.replace(record)
    return spec


def database_errors() -> tuple[type[Exception], ...]:
    """The exception classes a backend raises for a database it cannot use."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)
