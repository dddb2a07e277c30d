"""Shared fixtures: a real local server over HTTP, and users with API keys.

- ``live_server``: the server app in a uvicorn thread on a free loopback port (one per session).
- ``spawned_server``: ``runapi serve`` as a separate process (one per session).
- ``user``: a fresh user (entity) with an API key on ``live_server``.

Each server's data dir gets a fresh PostgreSQL database when ``RUNAPI_TEST_DATABASE`` names
a cluster (see tests/databases.py), else its own SQLite file.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from databases import drop_created, use_test_database

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"

_user_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path

    def create_user(self, name: str) -> str:
        from runapi_server.users import create_user

        return create_user(self.data_dir, name)


@dataclass(frozen=True)
class User:
    name: str
    api_key: str
    server: Server

    @property
    def entity(self) -> str:
        return self.name

    @property
    def auth(self) -> tuple[str, str]:
        return ("api", self.api_key)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=self.auth, timeout=30.0)


def _wait_until_up(url: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            httpx.get(url + "/healthz", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start within {deadline_s}s")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from runapi_server.app import create_app

    data_dir = use_test_database(tmp_path_factory.mktemp("server-data"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(data_dir, public_url=url)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_until_up(url)
    yield Server(url=url, data_dir=data_dir)
    server.should_exit = True
    thread.join(timeout=10)


@contextmanager
def serve_process(
    data_dir: Path, *options: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`runapi serve --data-dir data_dir` with `options` on a free port, in its own process;
    its output goes to `log` (a pipe nobody reads would fill up and block it)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        serve = ["serve", "--port", str(port), "--data-dir", str(data_dir), *options]
        proc = subprocess.Popen(
            [sys.executable, "-m", "runapi_cli", *serve],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    try:
        _wait_until_up(url)
        yield Server(url=url, data_dir=data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def spawned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = use_test_database(tmp_path_factory.mktemp("spawned-data"))
    with serve_process(data_dir, log=data_dir.parent / f"{data_dir.name}-serve.log") as server:
        yield server


def _new_user(server: Server, prefix: str) -> User:
    name = f"{prefix}{next(_user_counter)}"
    return User(name=name, api_key=server.create_user(name), server=server)


@pytest.fixture
def user(live_server: Server) -> User:
    return _new_user(live_server, "user")


@pytest.fixture
def other_user(live_server: Server) -> User:
    return _new_user(live_server, "other")


def load_operation(name: str) -> str:
    """The text of ``queries/<name>.graphql`` plus the shared fragments it uses."""
    text = (QUERIES / f"{name}.graphql").read_text()
    blocks = (QUERIES / "fragments.graphql").read_text().split("\nfragment ")
    fragments = {}
    for block in blocks:
        body = block if block.startswith("fragment ") else "fragment " + block
        fragments[body.split()[1]] = body
    used: dict[str, str] = {}
    pending = [text]
    while pending:
        chunk = pending.pop()
        for fname, body in fragments.items():
            if f"...{fname}" in chunk and fname not in used:
                used[fname] = body
                pending.append(body)
    return "\n".join([text, *used.values()])


STRESS_DIR = ROOT / "tests" / "stress"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/stress (minutes of load, kill and fuzz runs) out of the normal suite.

    They run when named: `pytest tests/stress` (see README).
    """
    if collection_path != STRESS_DIR and STRESS_DIR not in collection_path.parents:
        return None
    for arg in config.args:
        target = Path(arg.split("::")[0]).resolve()
        if target == STRESS_DIR or STRESS_DIR in target.parents:
            return None
    return True


INSTALLED_ENV = "RUNAPI_TEST_INSTALLED"


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_created()


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``RUNAPI_TEST_INSTALLED=1`` (scripts/check_user_install.py), prove that the
    packages under test are the ones pip installed, not sources beside the tests."""
    if not os.environ.get(INSTALLED_ENV):
        return
    import runapi
    import runapi_cli
    import runapi_server

    for module in (runapi, runapi_cli, runapi_server):
        path = Path(str(module.__file__)).resolve()
        if "site-packages" not in path.parts:
            raise pytest.UsageError(f"{INSTALLED_ENV} is set but {module.__name__} is {path}")
