"""Fuzzing at volume: thousands of generated GraphQL operations (valid and invalid) and
malformed bodies against `runapi serve` in its own process; zero 5xx.

    .venv/bin/pytest tests/stress -q        (RUNAPI_STRESS_FUZZ_EXAMPLES, default 3000)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import Server, User
from hardening import new_port, spawn_server
from hypothesis_graphql import Mode
from test_fuzz_server import fuzz_bodies, fuzz_operations, seed_fuzz_user

EXAMPLES = int(os.environ.get("RUNAPI_STRESS_FUZZ_EXAMPLES", "3000"))


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    data_dir = tmp_path_factory.mktemp("fuzz-stress-data")
    port = new_port()
    proc = spawn_server(data_dir, port, data_dir.parent / "fuzz-serve.log")
    try:
        yield seed_fuzz_user(Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
            proc.wait()
    log = (data_dir.parent / "fuzz-serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_thousands_of_operations_never_5xx(fuzz_target: User, mode: Mode) -> None:
    with fuzz_target.http() as client:
        fuzz_operations(client, EXAMPLES, mode)


def test_thousands_of_malformed_bodies_never_5xx(fuzz_target: User) -> None:
    with fuzz_target.http() as client:
        fuzz_bodies(client, fuzz_target, EXAMPLES)
