"""Request bodies are refused by size and auth before they are read, on every route: an
unauthenticated 512 MiB body (streamed, no Content-Length) to each route of a spawned
server leaves its memory where it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
from hardening import new_port, spawn_server

MIB = 1024 * 1024
BODY_MIB = 512
ROUTES = [
    ("POST", "/graphql"),
    ("POST", "/files/alice/proj/run1/file_stream"),
    ("POST", "/pages/token"),
    ("PUT", "/storage/upload/alice/proj/run1/model.bin?grant=0&expires=9999999999&signature=0"),
    ("PUT", "/storage/upload/alice/proj/run1/model.bin"),
    ("GET", "/storage/files/alice/proj/run1/model.bin"),
    ("GET", "/storage/files/alice/proj/run1/model.bin?grant=0&expires=1&signature=0"),
    ("GET", "/storage/history/alice/proj/run1/0.parquet?grant=0&expires=1&signature=0"),
    ("GET", "/alice/proj/runs/run1"),
    ("GET", "/healthz"),
    ("POST", "/healthz"),
    ("POST", "/no/such/route"),
]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def big_body() -> Iterator[bytes]:
    chunk = b"x" * MIB
    for _ in range(BODY_MIB):
        yield chunk


def test_unauthenticated_huge_bodies_leave_server_memory_alone(tmp_path: Path) -> None:
    port = new_port()
    proc = spawn_server(tmp_path / "data", port, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as client:
            client.get(url + "/healthz")
            start = rss_bytes(proc.pid)
            answers = {}
            for method, path in ROUTES:
                try:
                    response = client.request(method, url + path, content=big_body())
                    answers[path] = response.status_code
                except httpx.TransportError:
                    answers[path] = 0  # answered and closed before the body was sent
                grown = rss_bytes(proc.pid) - start
                assert grown < 100 * MIB, (method, path, grown // MIB)
            assert client.get(url + "/healthz").status_code == 200
        assert all(status in (0, 401, 403, 404, 405, 413) for status in answers.values()), answers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
