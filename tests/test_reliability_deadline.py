"""A whole call is bounded by `Api(deadline=...)`, not only each read: a server dripping
bytes cannot hold `viewer()`. Downloads check the size and MD5 the server reported and
raise `DownloadIntegrityError`, leaving nothing behind, when the bytes differ."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import User

import runapi
from runapi._transport import RetryTransport


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """A server that answers every request with a 10,000-byte body, one byte per 0.1 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 10000\r\n\r\n{"
                )
                for _ in range(9999):
                    if stop.wait(0.1):
                        return
                    conn.sendall(b" ")
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def test_a_dripping_server_cannot_hold_a_call_past_its_deadline(dripping_server: str) -> None:
    with runapi.Api(api_key="local-x", base_url=dripping_server, timeout=5, deadline=2) as api:
        began = time.monotonic()
        with pytest.raises(runapi.APITimeoutError, match=r"total deadline of 2\.0s"):
            api.viewer()
        elapsed = time.monotonic() - began
    assert elapsed < 10  # the drip alone would take 1,000 s; each read arrives in 0.1 s


def test_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="deadline must be a positive number"):
        runapi.Api(api_key="local-x", base_url="http://127.0.0.1:9", deadline=0)
    with pytest.raises(ValueError, match="deadline_s must be a positive number"):
        RetryTransport(httpx.HTTPTransport(), deadline_s=-1)


class Tamper(httpx.BaseTransport):
    """Passes every request to the real server; file downloads come back altered."""

    def __init__(self, alter: bool) -> None:
        self._inner = httpx.HTTPTransport()
        self._alter = alter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.startswith("/storage/files/"):
            return response
        body = response.read()
        response.close()
        body = body[:-1] + b"?" if self._alter else body[: len(body) // 2]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize(("alter", "message"), [(False, "got 500 bytes"), (True, "its MD5 is")])
def test_altered_downloads_raise_and_leave_nothing(
    user: User, tmp_path: Path, alter: bool, message: str
) -> None:
    source = tmp_path / "src" / "weights.bin"
    source.parent.mkdir()
    source.write_bytes(bytes(range(250)) * 4)
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        run = runapi.Run.create(api, project="dl", entity=user.entity)
        run.upload_file(str(source), root=str(source.parent))
        path = "/".join(run.path)
    with runapi.Api(api_key=user.api_key, base_url=user.server.url, transport=Tamper(alter)) as api:
        (file,) = api.run(path).files()
        out = tmp_path / "out"
        with pytest.raises(runapi.DownloadIntegrityError, match=message) as caught:
            file.download(root=out, progress=False)
        assert caught.value.name == "weights.bin"
        assert not out.exists() or list(out.iterdir()) == []
        with pytest.raises(runapi.DownloadIntegrityError):
            file.read_bytes()
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        (file,) = api.run(path).files()
        assert file.download(root=tmp_path / "ok", progress=False).read_bytes() == (
            source.read_bytes()
        )
