"""The PostgreSQL backend: its migrations build the same schema as SQLite's, a dropped
connection is reopened on the next request, and a database from a newer runapi is refused
untouched. Runs against the cluster named by RUNAPI_TEST_DATABASE (skipped without one:
``python3 scripts/dev.py test --postgres`` starts one)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, _wait_until_up, free_port
from databases import admin_url, column_names, fresh_database, table_names, use_test_database
from hardening import run_server

import runapi
from runapi_server.storage import migrations
from runapi_server.storage.database import URL_FILE, open_database
from runapi_server.users import create_user

pytestmark = pytest.mark.skipif(
    admin_url() is None, reason="needs RUNAPI_TEST_DATABASE (a PostgreSQL cluster)"
)


def schema(data_dir: Path, database: str | None) -> dict[str, list[str]]:
    db = open_database(database, data_dir)
    try:
        conn = db.read()
        return {table: column_names(conn, table) for table in table_names(conn)}
    finally:
        db.close()


def test_both_dialects_build_the_same_tables_and_columns(tmp_path: Path) -> None:
    on_sqlite = schema(tmp_path / "sqlite", None)
    on_postgres = schema(tmp_path / "pg", fresh_database())
    assert on_postgres == on_sqlite
    assert "artifact_manifests" in on_sqlite and "url_key" in on_sqlite["runs"]


def test_a_dropped_connection_is_reopened_on_the_next_request(tmp_path: Path) -> None:
    data_dir = use_test_database(tmp_path / "data")
    with run_server(data_dir) as server, _api(server) as api:
        api.create_run(project="p", run_id="before")
        killed = _terminate_other_backends(data_dir)
        assert killed >= 1  # the server's connection(s) to its database
        # Each thread finds its connection dropped at its next statement and reconnects:
        # no request fails.
        for _ in range(3):
            assert api.run(f"{USER}/p/before").id == "before"
        api.create_run(project="p", run_id="after")
        assert {run.id for run in api.runs(f"{USER}/p")} == {"before", "after"}


def test_a_database_from_a_newer_runapi_is_refused_untouched(tmp_path: Path) -> None:
    data_dir = use_test_database(tmp_path / "newer")
    db = open_database(None, data_dir)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', ?)",
            ("2025-01-02T03:04:05",),
        )
    db.close()
    before = _dump(data_dir)
    url = (data_dir / URL_FILE).read_text().strip()
    for command in (
        ["serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        ["serve", "--port", str(free_port()), "--data-dir", str(data_dir), "--database", url],
        ["users", "create", "bob", "--data-dir", str(data_dir)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runapi_cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done
        assert done.stdout == ""
        assert (
            f"has schema version 99, newer than this runapi knows (up to {migrations.LATEST})"
            in done.stderr
        )
        assert "Traceback" not in done.stderr
    assert _dump(data_dir) == before


def test_a_data_dir_keeps_its_database(tmp_path: Path) -> None:
    data_dir = use_test_database(tmp_path / "kept")
    other = fresh_database()
    assert other is not None
    with pytest.raises(ValueError, match="holds the files of another database"):
        open_database(other, data_dir)
    sqlite_dir = tmp_path / "sqlite"
    open_database(None, sqlite_dir).read()
    with pytest.raises(ValueError, match="holds a SQLite database"):
        open_database(other, sqlite_dir)
    assert not (sqlite_dir / URL_FILE).exists()
    assert (data_dir / URL_FILE).stat().st_mode & 0o777 == 0o600


USER = "pguser"


def _api(server: Server) -> runapi.Api:
    return runapi.Api(api_key=create_user(server.data_dir, USER), base_url=server.url)


def _terminate_other_backends(data_dir: Path) -> int:
    """pg_terminate_backend on every other connection to the data dir's database."""
    import psycopg

    url = (data_dir / URL_FILE).read_text().strip()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def _dump(data_dir: Path) -> list[tuple[str, list[str]]]:
    """Every table's rows, read with psycopg itself (opening the database through runapi
    would refuse it, as intended)."""
    import psycopg

    url = (data_dir / URL_FILE).read_text().strip()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            str(name)
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' ORDER BY table_name"
            ).fetchall()
        ]
        return [
            (table, sorted(repr(row) for row in conn.execute(f"SELECT * FROM {table}").fetchall()))
            for table in tables
        ]


def test_serve_with_database_serves_from_it_and_the_data_dir_remembers(tmp_path: Path) -> None:
    url = fresh_database()
    assert url is not None
    data_dir = tmp_path / "fresh"
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runapi_cli", "serve", "--port", str(port),
             "--data-dir", str(data_dir), "--database", url],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(f"http://127.0.0.1:{port}")
        server = Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir)
        with _api(server) as api:
            api.create_run(project="p", run_id="r1")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert (data_dir / URL_FILE).read_text() == url + "\n"
    assert not (data_dir / "runapi.sqlite3").exists()
    first = (tmp_path / "serve.log").read_text().splitlines()[0]
    assert first.endswith(f"(data: {data_dir.resolve()}, database {url})")
    import psycopg

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM runs").fetchall() == [("r1",)]


def _inside(db: Any, run_id: int | None, entered: threading.Event, leave: threading.Event) -> None:
    with db.transaction(run_id=run_id):
        entered.set()
        leave.wait(10)


def test_writers_of_different_runs_overlap_and_every_other_writer_waits(tmp_path: Path) -> None:
    """Transactions of one run's rows (file-stream posts) hold the writer lock shared and
    the run's own lock: two runs' go on together; a second one of the same run, and any
    transaction without a run (creating runs, users, artifacts), waits for them."""
    db = open_database(fresh_database(), tmp_path)
    events = {name: (threading.Event(), threading.Event()) for name in "ABCD"}
    plan = {"A": 1, "B": 2, "C": 1, "D": None}
    threads = {
        name: threading.Thread(target=_inside, args=(db, plan[name], *events[name]))
        for name in plan
    }
    try:
        for name in "AB":
            threads[name].start()
            assert events[name][0].wait(10), f"{name} did not start while the other run wrote"
        threads["C"].start()  # run 1 again: waits for A
        assert not events["C"][0].wait(0.5)
        threads["D"].start()  # no run: waits for A, B and C
        assert not events["D"][0].wait(0.5)
        events["A"][1].set()  # A ends: C (run 1) goes on; D still waits for B and C
        assert events["C"][0].wait(10)
        assert not events["D"][0].wait(0.3)
        events["B"][1].set()
        events["C"][1].set()
        assert events["D"][0].wait(10)
    finally:
        for _, leave in events.values():
            leave.set()
        for thread in threads.values():
            if thread.is_alive():
                thread.join(10)
        db.close()
