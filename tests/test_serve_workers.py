"""`runapi serve --workers 2` as a spawned process: two worker processes over one SQLite
(WAL) database serve reads and writes consistently."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import Server, User, _wait_until_up, free_port
from databases import use_test_database
from seeding import finish, log_history

import runapi
from runapi.filters import Config

WORKERS = 2


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    data_dir = use_test_database(tmp_path_factory.mktemp("workers-data"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["serve", "--port", str(port), "--data-dir", str(data_dir), "--workers", "2"]
    with open(data_dir.parent / "workers-serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runapi_cli", *command, "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_until_up(url)
        yield Server(url=url, data_dir=data_dir), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_two_workers_serve_reads_and_writes_consistently(
    workers_server: tuple[Server, int],
) -> None:
    server, parent = workers_server
    assert len(worker_pids(parent)) == WORKERS
    user = User(name="alice", api_key=server.create_user("alice"), server=server)

    def write_then_read(i: int) -> tuple[str, float, int]:
        # A fresh client per task: its connections land on either worker.
        with runapi.Api(api_key=user.api_key, base_url=server.url) as api:
            run = runapi.Run.create(api, run_id=f"w{i:02d}", project="multi", entity="alice")
            run.config["lr"] = i / 100
            run.update()
            log_history(user, run, [{"_step": s, "loss": float(i + s)} for s in range(3)])
            finish(user, run)
        with runapi.Api(api_key=user.api_key, base_url=server.url) as other:
            seen = other.run(f"alice/multi/w{i:02d}")
            return seen.state, seen.config["lr"], seen.lastHistoryStep

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(write_then_read, range(16)))
    assert results == [("finished", i / 100, 2) for i in range(16)]

    with runapi.Api(api_key=user.api_key, base_url=server.url) as api:
        runs = api.runs("alice/multi", filters=Config("lr") >= 0.08)
        table = runs.to_pandas(progress=False)
        # Created concurrently: compare by id, not by creation order.
        assert dict(zip(table["id"], table["config.lr"], strict=True)) == {
            f"w{i:02d}": i / 100 for i in range(8, 16)
        }
        long = api.runs("alice/multi").histories(samples=10, keys=["loss"], max_workers=4)
        by_run = long.groupby("run_id")["loss"].apply(list).to_dict()
        assert by_run == {f"w{i:02d}": [float(i + s) for s in range(3)] for i in range(16)}
        assert len(long) == 48
    assert len(worker_pids(parent)) == WORKERS  # no worker died on the way


def test_workers_option_is_checked() -> None:
    for bad in ("0", "x", "65"):
        done = subprocess.run(
            [sys.executable, "-m", "runapi_cli", "serve", "--workers", bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert "--workers" in done.stderr and bad in done.stderr


def test_served_connections_send_without_nagle_delay() -> None:
    """`runapi serve`'s listening socket is a TCP socket by protocol number, so asyncio
    sets TCP_NODELAY on every connection (without it a response written in two parts
    waited ~40 ms for the client's delayed ACK)."""
    import asyncio
    import socket

    from runapi_cli.serving import listen

    async def accepted_nodelay() -> int:
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listen("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(found, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) == 1
