"""The SQLite file's WAL: commits are durable in the WAL and return without copying it
back; a background thread (storage/sqlite.py's Checkpointer) copies it into the database
file after writes, so the database file alone holds them soon after."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from databases import sqlite_only

from runapi_server.storage.sqlite import CHECKPOINT_CHANGES, SqliteDatabase

pytestmark = sqlite_only


def _rows_in_database_file(path: Path, copy_dir: Path) -> int:
    """Rows of ``keysets`` in the database file alone (a copy without its WAL); -1
    while the file does not hold the table yet."""
    copy = copy_dir / "copy.sqlite3"
    copy.unlink(missing_ok=True)
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        (count,) = conn.execute("SELECT count(*) FROM keysets").fetchone()
    except sqlite3.OperationalError:  # no such table: the schema is still in the WAL
        return -1
    finally:
        conn.close()
    return int(count)


def test_commits_leave_checkpoints_to_the_background_thread(tmp_path: Path) -> None:
    path = tmp_path / "data" / "runapi.sqlite3"
    db = SqliteDatabase(path)
    conn = db.connect()
    assert conn.raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    rows = CHECKPOINT_CHANGES + 500
    with db.transaction() as writing:
        writing.executemany(
            "INSERT INTO keysets (keys) VALUES (?)", [(f'["k{i}"]',) for i in range(rows)]
        )
    assert conn.execute("SELECT count(*) FROM keysets").one()[0] == rows
    deadline = time.monotonic() + 30
    while _rows_in_database_file(path, tmp_path) != rows:
        assert time.monotonic() < deadline, "the WAL was not copied into the database file"
        time.sleep(0.05)
    db.close()


def test_a_small_write_is_checkpointed_once_a_second_went_by(tmp_path: Path) -> None:
    path = tmp_path / "data" / "runapi.sqlite3"
    db = SqliteDatabase(path)
    with db.transaction() as writing:  # the first write after the schema: due by time
        writing.execute("INSERT INTO keysets (keys) VALUES (?)", ('["a"]',))
    time.sleep(1.1)
    with db.transaction() as writing:
        writing.execute("INSERT INTO keysets (keys) VALUES (?)", ('["b"]',))
    deadline = time.monotonic() + 30
    while _rows_in_database_file(path, tmp_path) != 2:
        assert time.monotonic() < deadline, "the WAL was not copied into the database file"
        time.sleep(0.05)
    db.close()
