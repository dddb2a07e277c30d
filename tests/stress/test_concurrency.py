"""Concurrency under load: 16 writers (file_stream and upsertBucket) for
`RUNAPI_STRESS_SECONDS` (default 60) on one run and on several, against `runapi serve`
in its own process. No acknowledged row lost or duplicated, no failed request (no
"database is locked"), every summary one whole written value.

    .venv/bin/pytest tests/stress -q
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import Server, User
from hardening import new_port, spawn_server
from load_writers import run_load, verify

SECONDS = float(os.environ.get("RUNAPI_STRESS_SECONDS", "60"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("stress-data")
    port = new_port()
    proc = spawn_server(data_dir, port, data_dir.parent / "stress-serve.log")
    try:
        yield Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("shared_run", [True, False], ids=["one-run", "several-runs"])
def test_sixteen_writers_for_a_minute(served: Server, shared_run: bool) -> None:
    name = f"stress{int(shared_run)}"
    user = User(name=name, api_key=served.create_user(name), server=served)
    result = run_load(user, SECONDS, writers=16, shared_run=shared_run)
    verify(user, result)
    print(f"{name}: {result.requests} requests in {SECONDS:.0f}s")
