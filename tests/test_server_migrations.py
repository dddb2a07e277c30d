"""Schema migrations: a data dir made by the previous schema (tests/fixtures/schema_v1.sql,
as runapi wrote it before versions were recorded) is upgraded at start with its rows kept;
a data dir from a newer runapi is refused, untouched, with a clear message."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from conftest import ROOT, _wait_until_up, free_port
from databases import sqlite_only

import runapi
from runapi_server.auth import hash_key
from runapi_server.storage import migrations
from runapi_server.storage.sqlite import SqliteConnection

pytestmark = sqlite_only  # v1 data dirs were SQLite files; test_server_postgres.py has PG's
FIXTURE = ROOT / "tests" / "fixtures" / "schema_v1.sql"
KEY = "local-" + "ab" * 20
NOW = "2025-01-02T03:04:05"


def build_v1_data_dir(data_dir: Path) -> None:
    """A data dir as the previous runapi left it: v1 tables, rows, no recorded version."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "runapi.sqlite3", isolation_level=None)
    try:
        conn.executescript(FIXTURE.read_text())
        conn.execute("INSERT INTO users (id, name, created_at) VALUES (1, 'alice', ?)", (NOW,))
        conn.execute(
            "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?, 1, ?)",
            (hash_key(KEY), NOW),
        )
        conn.execute(
            "INSERT INTO projects (id, entity, name, created_at) VALUES (1, 'alice', 'legacy', ?)",
            (NOW,),
        )
        for run_id, name in ((1, "old1"), (2, "old2")):
            conn.execute(
                "INSERT INTO runs (id, project_id, name, user_id, state, config, summary,"
                " created_at, updated_at, heartbeat_at) VALUES (?, 1, ?, 1, 'finished', ?, ?,"
                " ?, ?, ?)",
                (
                    run_id,
                    name,
                    json.dumps({"lr": {"value": 0.1 * run_id, "desc": None}}),
                    json.dumps({"loss": 0.5 / run_id}),
                    NOW,
                    NOW,
                    NOW,
                ),
            )
        conn.execute(
            "INSERT INTO artifact_sequences (id, project_id, name, type_name, created_at,"
            " next_version) VALUES (1, 1, 'data', 'dataset', ?, 1)",
            (NOW,),
        )
        conn.execute(
            "INSERT INTO artifacts (id, sequence_id, version_index, digest, state, created_at,"
            " updated_at) VALUES (1, 1, 0, 'd-old', 'COMMITTED', ?, ?)",
            (NOW, NOW),
        )
        conn.execute(
            "INSERT INTO artifact_aliases (sequence_id, artifact_id, alias) VALUES (1, 1, 'latest')"
        )
        # History as step 1's file stream stored it (today's code writes later columns).
        lines = [json.dumps({"_step": step, "loss": 1.0 / (step + 1)}) for step in range(3)]
        conn.execute("INSERT INTO keysets (id, keys) VALUES (1, ?)", ('["_step", "loss"]',))
        conn.executemany(
            "INSERT INTO history (run_id, line_no, step, keyset_id, row) VALUES (1, ?, ?, 1, ?)",
            [(step, step, line) for step, line in enumerate(lines)],
        )
        conn.execute(
            "INSERT INTO stream_stats (run_id, stream, line_count, ordered)"
            " VALUES (1, 'history', 3, 1)"
        )
        conn.execute("INSERT INTO history_keyset_counts VALUES (1, 1, 3)")
        conn.executemany(
            "INSERT INTO history_key_types VALUES (1, ?, 'number', 3)", [("_step",), ("loss",)]
        )
        assert conn.execute("PRAGMA table_info(runs)").fetchall()[-1][1] == "exitcode"
    finally:
        conn.close()


def dump(data_dir: Path) -> list[str]:
    conn = sqlite3.connect(data_dir / "runapi.sqlite3")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(data_dir.parent / f"{data_dir.name}-serve.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runapi_cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_v1_data_dir_is_upgraded_with_its_rows_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    build_v1_data_dir(data_dir)
    with serve(data_dir) as url, runapi.Api(api_key=KEY, base_url=url) as api:
        run = api.run("alice/legacy/old1")
        assert (run.state, run.config["lr"], run.summary["loss"]) == ("finished", 0.1, 0.5)
        assert [row["_step"] for row in run.scan_history()] == [0, 1, 2]
        assert api.run("alice/legacy/old2").config["lr"] == 0.2
        # The migrated runs sign URLs with their new keys: an upload and a download work.
        target = tmp_path / "card.txt"
        target.write_text("kept")
        run.upload_file(str(target), root=str(tmp_path))
        (file,) = [f for f in run.files() if f.name == "card.txt"]
        assert httpx.get(file.direct_url, timeout=10).text == "kept"
        # An artifact version from before contents existed: committed, with no files.
        old = api.artifact("alice/legacy/data:latest")
        assert (old.digest, old.state, old.file_count, list(old.files())) == (
            "d-old",
            "COMMITTED",
            0,
            [],
        )
    conn = sqlite3.connect(data_dir / "runapi.sqlite3")
    try:
        versions = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        keys = [k for (k,) in conn.execute("SELECT url_key FROM runs ORDER BY id")]
    finally:
        conn.close()
    assert versions == [
        (1, "base"),
        (2, "run_url_keys"),
        (3, "artifact_contents"),
        (4, "sealed_exports"),
        (5, "pending_uploads"),
        (6, "history_rewrites"),
    ]
    assert versions == [(step.version, step.name) for step in migrations.STEPS]
    assert len(set(keys)) == 2 and all(len(k) == 32 for k in keys)


def test_a_data_dir_from_a_newer_runapi_is_refused_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "newer"
    build_v1_data_dir(data_dir)
    conn = sqlite3.connect(data_dir / "runapi.sqlite3", isolation_level=None)
    migrations.upgrade(SqliteConnection(conn))
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', ?)",
        (NOW,),
    )
    conn.close()
    before = dump(data_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for command in (
        ["serve", "--port", str(free_port()), "--data-dir", str(data_dir)],
        ["users", "create", "bob", "--data-dir", str(data_dir)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runapi_cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 1, done
        assert done.stdout == ""
        assert (
            f"has schema version 99, newer than this runapi knows (up to {migrations.LATEST})"
            in done.stderr
        )
        assert "Traceback" not in done.stderr
    assert dump(data_dir) == before
