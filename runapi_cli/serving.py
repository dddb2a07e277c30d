"""Listening sockets for the local server (shared by `runapi serve` and `runapi demo`)."""

from __future__ import annotations

import socket


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` and listening (port 0: any free port).

    Binding here, before uvicorn starts, gives a clear error for a taken port and lets the
    caller print the real URL before serving. Raises `OSError` (`socket.gaierror` for an
    unknown host).

    ```python
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    ```
    """
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_for(sock: socket.socket, host: str) -> str:
    """The base URL a listening socket serves, e.g. `http://127.0.0.1:8080`."""
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
