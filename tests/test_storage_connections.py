"""The storage backends' per-thread connections: closed for every thread at shutdown, and
closed (not left to their own finalisers) when a database object is dropped unclosed."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from pathlib import Path
from typing import Any

from databases import fresh_database, use_test_database

from runapi_server.storage.database import open_database


def _connections_from_threads(db: Any, n: int) -> list[Any]:
    """The connections `n` threads (each running one query) hold."""
    found: list[Any] = []

    def use() -> None:
        conn = db.read()
        conn.execute("SELECT 1").one()
        found.append(conn)

    threads = [threading.Thread(target=use) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def _is_closed(conn: Any) -> bool:
    closed = getattr(conn.raw, "closed", None)
    if closed is not None:  # psycopg
        return bool(closed)
    try:  # sqlite3
        conn.raw.execute("SELECT 1")
    except Exception as exc:
        return "closed" in str(exc)
    return False


def test_close_closes_every_threads_connection_and_later_use_reopens(tmp_path: Path) -> None:
    db = open_database(fresh_database(), tmp_path)
    mine = db.read()
    others = _connections_from_threads(db, 3)
    assert len({id(c) for c in [mine, *others]}) == 4 and not any(map(_is_closed, others))
    db.close()
    assert all(_is_closed(c) for c in [mine, *others])
    again = db.read()  # a new connection, in this thread and in the others
    assert again is not mine and again.execute("SELECT 1").one()[0] == 1
    (fresh,) = _connections_from_threads(db, 1)
    assert fresh.execute("SELECT 2").one()[0] == 2
    db.close()


def test_a_dropped_database_closes_its_connections(tmp_path: Path) -> None:
    db = open_database(fresh_database(), tmp_path)
    held = [*_connections_from_threads(db, 2), db.read()]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del db
        gc.collect()
    assert all(_is_closed(c) for c in held)


def test_the_app_closes_its_database_at_shutdown(tmp_path: Path) -> None:
    from runapi_server.app import create_app
    from runapi_server.state import ServerState

    app = create_app(use_test_database(tmp_path / "data"))
    state = app.state.server
    assert isinstance(state, ServerState)
    held: list[Any] = []

    async def serve_briefly() -> None:
        async with app.router.lifespan_context(app):  # what uvicorn runs around serving
            held.append(state.db.read())
            assert not _is_closed(held[0])

    asyncio.run(serve_briefly())
    assert _is_closed(held[0])


def test_a_new_sqlite_file_locked_by_another_connection_still_opens(tmp_path: Path) -> None:
    """Switching a new file to WAL needs it to itself, and SQLite refuses that at once
    while another connection holds a lock on it (as when a server's threads or workers
    first open a new database together): the connection waits instead of failing."""
    import sqlite3

    from runapi_server.storage.sqlite import SqliteDatabase

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE held (x)")
    other.execute("BEGIN IMMEDIATE")  # another connection about to write (or switching)
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    db = SqliteDatabase(path)
    try:
        assert db.read().execute("PRAGMA journal_mode").one()[0] == "wal"
    finally:
        release.join()
        db.close()
        other.close()
