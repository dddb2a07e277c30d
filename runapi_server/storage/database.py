"""The database a server opens: SQLite (the default) or PostgreSQL, behind one interface.

```python
db = open_database("postgresql://runapi@db/runapi", data_dir=Path("data"))
with db.transaction() as conn:       # commits on success, rolls back on any exception
    ...
rows = db.read().execute("SELECT name FROM users").all()
```
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from runapi_server.storage.connection import Connection, Dialect
from runapi_server.storage.sqlite import SqliteDatabase

DB_FILE = "runapi.sqlite3"


class Database(Protocol):
    """Where the server's rows live; every storage module takes one of its connections."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def description(self) -> str:
        """What to name in messages: ``database /path/runapi.sqlite3`` or the URL sans password."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction: committed on success, rolled back on any exception.

        Writers are serialised (one at a time per database, across processes), so a
        read-modify-write inside a transaction never races another writer.
        """

    def read(self) -> Connection:
        """A connection for reads (autocommit; each statement sees committed data)."""

    def close(self) -> None: ...


def is_database_url(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://"))


def open_database(spec: str | None, data_dir: Path) -> Database:
    """The database ``spec`` names: a PostgreSQL URL, or ``None`` for the SQLite file
    in ``data_dir``. Nothing is connected until first use."""
    if spec is None:
        return SqliteDatabase(data_dir / DB_FILE)
    if is_database_url(spec):
        # psycopg comes with the server's postgresql extra: imported only when asked for
        from runapi_server.storage.postgres import PostgresDatabase

        return PostgresDatabase(spec)
    raise ValueError(
        f"--database {spec!r}: expected a postgresql://user:password@host:port/dbname URL"
        " (leave it out for the SQLite file in the data dir)"
    )
