"""Versioned schema migrations of the server's database.

The schema is built by numbered steps, run in order at start-up, each in its own
transaction together with the row that records it in ``schema_migrations`` (version,
name, time applied). A database holds the steps up to ``max(version)``; opening it runs
the steps above that and nothing else, so an upgrade never silently misses a column.

A step is a SQL file per backend, ``<dialect>/vNNNN_<what>.sql`` beside this module,
listed in :data:`STEPS`; both backends have every step, so a version means the same
schema on each.
Step 1 is the schema as it was before versions were recorded (``CREATE ... IF NOT
EXISTS``), so a data dir made then is adopted unchanged and upgraded from there.

A database from a newer runapi (a version above :data:`LATEST`) is refused with
:class:`SchemaTooNew` and left untouched.

```python
conn = SqliteDatabase(path).connect()   # connecting runs upgrade() once
upgrade(conn)            # -> [1, 2, 3, 4] on a new database, [] when already current
schema_version(conn)     # -> LATEST
```
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runapi_server.storage.connection import Connection, Dialect

HERE = Path(__file__).resolve().parent

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Step:
    """One upgrade step: the SQL in ``file`` takes the schema from ``version - 1``."""

    version: int
    file: str

    @property
    def name(self) -> str:
        return self.file.removesuffix(".sql").partition("_")[2]

    def statements(self, dialect: Dialect) -> list[str]:
        return split_statements((HERE / dialect.name / self.file).read_text())


STEPS: tuple[Step, ...] = (
    Step(1, "v0001_base.sql"),
    Step(2, "v0002_run_url_keys.sql"),
    Step(3, "v0003_artifact_contents.sql"),
    Step(4, "v0004_sealed_exports.sql"),
    Step(5, "v0005_pending_uploads.sql"),
    Step(6, "v0006_history_rewrites.sql"),
)
LATEST = STEPS[-1].version


class SchemaTooNew(RuntimeError):
    """The database was written by a newer runapi: its schema version is above LATEST."""


def split_statements(script: str) -> list[str]:
    """The SQL statements of ``script``, one string each (comments kept inside them)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def schema_version(conn: Connection) -> int:
    """The version recorded in the database (0: no step applied yet)."""
    conn.execute(VERSION_TABLE)
    (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").one()
    return int(version)


def _too_new(version: int, where: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"{where} has schema version {version}, newer than this runapi knows (up to"
        f" {LATEST}): it was written by a newer runapi. Upgrade runapi"
        " (pip install -U 'runapi[server]') or use another data dir; nothing was changed"
    )


def upgrade(conn: Connection, where: str = "the database") -> list[int]:
    """Run every step above the recorded version, in order; return the versions applied.

    ``conn`` must be in autocommit mode. Each step and its record commit together under
    the writer lock (:attr:`Dialect.begin_write`), so a crash mid-upgrade leaves the
    database at the last whole step, and two processes opening it at once apply each
    step once. Raises :class:`SchemaTooNew` for a database from a newer runapi.
    """
    applied: list[int] = []
    for step in STEPS:
        for statement in conn.dialect.begin_write:
            conn.execute(statement)
        try:
            current = schema_version(conn)
            if current > LATEST:
                raise _too_new(current, where)
            if current >= step.version:
                conn.execute("COMMIT")
                continue
            if current != step.version - 1:
                raise RuntimeError(f"{where}: schema version {current} cannot take {step.file}")
            for statement in step.statements(conn.dialect):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(step.version)
    return applied
