"""Which database the servers under test use: SQLite, or PostgreSQL when asked.

With ``RUNAPI_TEST_DATABASE`` set to the admin URL of a PostgreSQL cluster (see
``scripts/pg_cluster.py`` and ``python3 scripts/dev.py test --postgres``), every server
the tests start gets a database of its own on that cluster: :func:`use_test_database`
creates one and records it in the server's data dir, so ``create_app(data_dir)``,
``runapi serve --data-dir`` and ``runapi users`` on that dir all reach it. Without the
variable, each data dir keeps its SQLite file as usual.

Tests read stored rows through the backend (:func:`read`), never the SQLite file.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from runapi_server.storage.connection import Connection
from runapi_server.storage.database import DB_FILE, URL_FILE, Database, open_database

ADMIN_ENV = "RUNAPI_TEST_DATABASE"
_counter = itertools.count()
_created: list[str] = []


def admin_url() -> str | None:
    """The cluster's admin URL, or None to test on SQLite."""
    return os.environ.get(ADMIN_ENV) or None


ON_POSTGRES = admin_url() is not None
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about the SQLite file itself")


def _admin() -> Any:
    import psycopg

    return psycopg.connect(str(admin_url()), autocommit=True, connect_timeout=30)


def fresh_database() -> str | None:
    """A new empty database on the test cluster (its URL), or None on SQLite."""
    admin = admin_url()
    if admin is None:
        return None
    name = f"t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _created.append(name)
    return admin.rsplit("/", 1)[0] + "/" + name


def use_test_database(data_dir: Path) -> Path:
    """Give ``data_dir`` a fresh database on the test cluster (nothing on SQLite, nor
    when the dir has a database already: a restarted server keeps its own)."""
    if admin_url() is None or (data_dir / URL_FILE).exists() or (data_dir / DB_FILE).exists():
        return data_dir
    url = fresh_database()
    if url is not None:
        open_database(url, data_dir).close()  # records the URL in the data dir
    return data_dir


_readers: dict[Path, Database] = {}


def read(data_dir: Path) -> Connection:
    """A read connection to the database of ``data_dir`` (whichever backend it has). The
    database object is kept for the session: dropping it closes its connections."""
    key = data_dir.resolve()
    if key not in _readers:
        _readers[key] = open_database(None, data_dir)
    return _readers[key].read()


def table_names(conn: Connection) -> list[str]:
    """The tables of the database, sorted by name."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' ORDER BY table_name"
        )
    names = [str(row[0]) for row in conn.execute(sql).tuples()]
    return [name for name in names if not name.startswith("sqlite_")]  # SQLite's own


def column_names(conn: Connection, table: str) -> list[str]:
    """The columns of ``table`` in their order."""
    if conn.dialect.name == "sqlite":
        return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})").tuples()]
    sql = (
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position"
    )
    return [str(row[0]) for row in conn.execute(sql, (table,)).tuples()]


def drop_created() -> None:
    """Close the readers; drop the databases this process created (at the end of the
    session)."""
    for reader in _readers.values():
        reader.close()
    _readers.clear()
    if admin_url() is None or not _created:
        return
    with _admin() as conn:
        for name in _created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created.clear()


def server_database_url() -> str | None:
    """The database a group of server processes shares: a fresh one on the test cluster,
    or None (the data dir's SQLite file, which processes on one data dir share)."""
    return fresh_database()


def serve_database_args(url: str | None) -> list[str]:
    """The `runapi serve` options that point a server at `url` (none for SQLite)."""
    return [] if url is None else ["--database", url]
