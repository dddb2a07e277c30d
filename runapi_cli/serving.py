"""Listening sockets for the local server (shared by `runapi serve` and `runapi demo`), and
the app factory the worker processes of `runapi serve --workers N` import."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from runapi_server.limits import Limits

WORKER_SETTINGS = "RUNAPI_SERVE_WORKER"
"""Environment variable carrying the parent's settings (JSON) to its worker processes."""
WORKER_APP = "runapi_cli.serving:worker_app"
"""What uvicorn imports in each worker (a factory: `factory=True`)."""
DATABASE_ENV = "RUNAPI_DATABASE"
"""`runapi serve --database`'s default: a PostgreSQL URL."""


def worker_settings(
    data_dir: Path, public_url: str, limits: Limits, database: str | None = None
) -> str:
    """The JSON `worker_app` reads from `WORKER_SETTINGS`."""
    import dataclasses

    return json.dumps(
        {
            "data_dir": str(data_dir),
            "public_url": public_url,
            "limits": dataclasses.asdict(limits),
            "database": database,
        }
    )


def worker_app() -> Starlette:
    """The server app of one worker process, from the settings its parent put in
    `WORKER_SETTINGS` (no startup cleanup: the parent did it)."""
    from runapi_server.app import create_app
    from runapi_server.http_protocol import HeaderTimeoutProtocol
    from runapi_server.limits import Limits

    settings: dict[str, Any] = json.loads(os.environ[WORKER_SETTINGS])
    limits = Limits(**settings["limits"])
    # The worker's connections use HeaderTimeoutProtocol (named by import path, as a
    # class made at run time cannot cross to a spawned worker): give it the limit here.
    HeaderTimeoutProtocol.header_timeout_s = limits.max_header_seconds
    return create_app(
        Path(settings["data_dir"]),
        public_url=settings["public_url"],
        limits=limits,
        cleanup=False,
        database=settings.get("database"),
    )


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
