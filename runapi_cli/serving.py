"""Listening sockets for the local server (shared by `runapi serve` and `runapi demo`), and
the app factory the worker processes of `runapi serve --workers N` import."""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
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


STORAGE_ENV = "RUNAPI_STORAGE"
"""The storage dir (or `s3://bucket[/prefix]`) when `--storage` is not given."""
BUCKET_SCHEME = "s3://"
SIGNING_KEY_ENV = "RUNAPI_SIGNING_KEY"
"""The signing key itself (hex or base64) when `--signing-key-file` is not given."""


@dataclass(frozen=True)
class StorageSettings:
    """Where `runapi serve` keeps files and what it signs URLs with, as configured:
    `storage_dir` None is the data dir, unless `bucket_url` (`s3://bucket[/prefix]`) names
    a bucket; `signing_key_file` None (and no `RUNAPI_SIGNING_KEY`) is `signing.key` of the
    storage dir."""

    storage_dir: Path | None = None
    signing_key_file: Path | None = None
    bucket_url: str | None = None

    @classmethod
    def of(
        cls, storage: str | None, key_file: Path | None, environ: Mapping[str, str]
    ) -> StorageSettings:
        """The settings from the options, else the environment."""
        if storage is None and environ.get(STORAGE_ENV):
            storage = environ[STORAGE_ENV]
        if storage is not None and storage.startswith(BUCKET_SCHEME):
            return cls(None, key_file, storage)
        return cls(None if storage is None else Path(storage), key_file)

    @property
    def description(self) -> str | None:
        """The configured storage for messages (None: the data dir)."""
        if self.bucket_url is not None:
            return self.bucket_url
        return None if self.storage_dir is None else str(self.storage_dir.resolve())

    def signing_key(self, environ: Mapping[str, str]) -> bytes | None:
        """The configured secret (None: the storage dir's own); `ValueError` with a
        one-line reason when it is unreadable, not hex or base64, or under 32 bytes."""
        from runapi_server.state import parse_signing_key, read_signing_key_file

        if self.signing_key_file is not None:
            return read_signing_key_file(self.signing_key_file)
        if SIGNING_KEY_ENV in environ:
            return parse_signing_key(environ[SIGNING_KEY_ENV], SIGNING_KEY_ENV)
        return None


def add_team_options(parser: argparse.ArgumentParser) -> None:
    """`runapi serve`'s options for running several servers as one: `--storage`,
    `--public-url`, `--signing-key-file`."""
    parser.add_argument(
        "--storage",
        default=None,
        metavar="DIR|s3://BUCKET[/PREFIX]",
        help="where run files, artifacts and history exports live: a directory (e.g. on a"
        " network filesystem shared by several servers) or an S3-compatible bucket (needs"
        " runapi[s3]; endpoint and credentials from boto3's AWS_* settings) (default:"
        " $RUNAPI_STORAGE, else the data dir)",
    )
    parser.add_argument(
        "--public-url",
        type=_public_url,
        default=None,
        metavar="URL",
        help="the base URL clients reach this server at, e.g. a load balancer's; signed file"
        " URLs point there (default: the URL it listens on)",
    )
    parser.add_argument(
        "--signing-key-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the secret that signs file URLs (hex or base64, 32+ bytes; default:"
        " $RUNAPI_SIGNING_KEY, else signing.key made once in the storage dir)",
    )


def _public_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise argparse.ArgumentTypeError(f"not an http(s) base URL: {text!r}")
    return text.rstrip("/")


def worker_settings(
    data_dir: Path,
    public_url: str,
    limits: Limits,
    storage: StorageSettings,
    database: str | None = None,
) -> str:
    """The JSON `worker_app` reads from `WORKER_SETTINGS` (the signing key by its file;
    a key in `RUNAPI_SIGNING_KEY` reaches the workers in their inherited environment)."""
    import dataclasses

    def text(path: Path | None) -> str | None:
        return None if path is None else str(path)

    return json.dumps(
        {
            "data_dir": str(data_dir),
            "public_url": public_url,
            "limits": dataclasses.asdict(limits),
            "storage_dir": text(storage.storage_dir),
            "signing_key_file": text(storage.signing_key_file),
            "bucket_url": storage.bucket_url,
            "database": database,
        }
    )


def worker_app() -> Starlette:
    """The server app of one worker process, from the settings its parent put in
    `WORKER_SETTINGS` (no startup cleanup: the parent did it)."""
    from runapi_server.app import create_app
    from runapi_server.heap import settle_for_serving
    from runapi_server.http_protocol import HeaderTimeoutProtocol
    from runapi_server.limits import Limits

    settings: dict[str, Any] = json.loads(os.environ[WORKER_SETTINGS])
    limits = Limits(**settings["limits"])
    # The worker's connections use HeaderTimeoutProtocol (named by import path, as a
    # class made at run time cannot cross to a spawned worker): give it the limit here.
    HeaderTimeoutProtocol.header_timeout_s = limits.max_header_seconds

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    storage = StorageSettings(
        path(settings["storage_dir"]),
        path(settings["signing_key_file"]),
        settings.get("bucket_url"),
    )
    app = create_app(
        Path(settings["data_dir"]),
        public_url=settings["public_url"],
        limits=limits,
        cleanup=False,
        storage_dir=storage.storage_dir,
        signing_key=storage.signing_key(os.environ),
        database=settings.get("database"),
        storage_url=storage.bucket_url,
    )
    settle_for_serving()
    return app


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
    family, _, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # The protocol number must be IPPROTO_TCP (not 0): asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections of such sockets, and with it on, a response sent in
    # two writes waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, proto or socket.IPPROTO_TCP)
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
