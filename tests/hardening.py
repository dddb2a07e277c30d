"""Helpers for the security, reliability and fuzz tests.

- `run_server(data_dir, limits)`: the server app in a uvicorn thread (context manager),
  for tests that need their own limits or data dir.
- `spawn_server(data_dir, port)`: `python -m runapi_cli serve` as a process (kill tests).
- `db_digest(data_dir)`: a digest of every table's rows, to prove a rejected write changed
  nothing.
- `graphql(client, text, variables)`: the raw HTTP response of one GraphQL post.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, Server, _wait_until_up, free_port
from databases import table_names, use_test_database

from runapi_server.limits import Limits
from runapi_server.storage.database import open_database

OPERATIONS = ROOT / "tests" / "operations"


def test_operation(name: str) -> str:
    """The text of `tests/operations/<name>.graphql`."""
    return (OPERATIONS / f"{name}.graphql").read_text()


test_operation.__test__ = False  # type: ignore[attr-defined]


@contextmanager
def run_server(data_dir: Path, limits: Limits | None = None) -> Iterator[Server]:
    """The server app (with `limits`) in a uvicorn thread on a free loopback port."""
    import uvicorn

    from runapi_server.app import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(use_test_database(data_dir), public_url=url, limits=limits)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_until_up(url)
        yield Server(url=url, data_dir=data_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def spawn_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`runapi serve` on `port` and `data_dir` as a child process, up when this returns."""
    use_test_database(data_dir)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runapi_cli", "serve", "--port", str(port), "--data-dir",
             str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )  # fmt: skip
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", deadline_s=30)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return proc


def db_digest(data_dir: Path) -> str:
    """sha256 over every table's rows in a fixed order (read through a fresh connection)."""
    digest = hashlib.sha256()
    db = open_database(None, data_dir)
    try:
        conn = db.read()
        for table in table_names(conn):
            digest.update(table.encode())
            rows = sorted(repr(row) for row in conn.execute(f"SELECT * FROM {table}").tuples())
            digest.update("\n".join(rows).encode())
    finally:
        db.close()
    return digest.hexdigest()


def graphql(client: httpx.Client, text: str, variables: dict[str, Any] | None = None) -> Any:
    """The decoded body of a GraphQL post that must answer HTTP 200."""
    response = client.post("/graphql", json={"query": text, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


def new_port() -> int:
    return free_port()
