"""A client slow to send its request headers (slowloris) is disconnected by `runapi serve`
after `max_header_seconds`; requests sent at normal speed are served as before."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ROOT, _wait_until_up, free_port
from databases import use_test_database


def closed_after(sock: socket.socket, trickle: bytes, limit_s: float) -> float | None:
    """Seconds until the server closes `sock` while we send `trickle` every 0.2 s."""
    began = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - began < limit_s:
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - began
        except TimeoutError:
            pass
        try:
            if trickle:
                sock.sendall(trickle)
        except OSError:
            return time.monotonic() - began
    return None


def test_slow_headers_are_cut_off(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runapi_cli", "serve", "--port", str(port), "--data-dir",
             str(use_test_database(tmp_path / "data")), "--limit", "max_header_seconds=2"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        _wait_until_up(url)
        with socket.create_connection(("127.0.0.1", port)) as silent:
            waited = closed_after(silent, b"", 10)
        assert waited is not None and 1.5 < waited < 6
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            waited = closed_after(slow, b"X-Slow: 1\r\n", 10)
        assert waited is not None and 1.5 < waited < 6
        # A kept-alive client that sends its next request in time is served again.
        with httpx.Client(base_url=url) as client:
            assert client.get("/healthz").text == "ok"
            time.sleep(1)
            assert client.get("/healthz").text == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
