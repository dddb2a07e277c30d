"""Requests outside GraphQL: file and artifact bytes, uploads to signed URLs, page tokens.

The one place such a request is sent and its failures become runapi errors (a transport
failure: `APIConnectionError` / `APITimeoutError`; an HTTP error status: the status's
class), as `_graphql.py` is for operations. Every request goes through the Api's HTTP
client, so retries (`RetryTransport`) and the total deadline apply as for GraphQL.

- `send(ctx, "PUT", url, what=..., signed=True, content=...)`: one request, its response.
- `download(ctx, url, target, what=..., expected=Expected(size, md5), mismatch=...)`:
  stream into a temporary file beside `target`, check size and MD5, rename onto
  `target`; on any failure nothing is left and `target` is as it was.

`signed=True` marks a URL that carries its own permission: the API key is not sent to it.
Bodies of unknown length (downloads, `long=True`) have no total deadline, only the
per-read timeout.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ._context import Context
from ._exceptions import DownloadIntegrityError
from ._graphql import http_status_error, transport_error
from ._http import NO_AUTH, NO_DEADLINE

CHUNK_BYTES = 1 << 20


def send(
    ctx: Context,
    method: str,
    url: str,
    *,
    what: str,
    signed: bool = False,
    long: bool = False,
    ok: Callable[[httpx.Response], bool] = lambda response: not response.is_error,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; its response when `ok(response)` (default: not an HTTP error),
    else the runapi error for its status. `what` names it in error messages."""
    options: dict[str, Any] = dict(kwargs)
    if signed:
        options["auth"] = NO_AUTH
    if long:
        options["extensions"] = {**options.get("extensions", {}), **NO_DEADLINE}
    try:
        response = ctx.http.request(method, url, **options)
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from exc
    if not ok(response):
        raise http_status_error(response, what)
    return response


@contextmanager
def stream(ctx: Context, url: str, *, what: str, signed: bool) -> Iterator[httpx.Response]:
    """A streamed `GET` (no total deadline) whose status was checked; transport failures
    while reading its body also become runapi errors."""
    options: dict[str, Any] = {"extensions": NO_DEADLINE}
    if signed:
        options["auth"] = NO_AUTH
    try:
        with ctx.http.stream("GET", url, **options) as response:
            if response.is_error:
                response.read()
                raise http_status_error(response, what)
            yield response
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from exc


@dataclass(frozen=True)
class Expected:
    """What the server says a download holds: its size and base64 MD5 (None: unknown)."""

    size: int | None
    md5: str | None

    def matches(self, size: int, md5: str) -> bool:
        return (self.size is None or size == self.size) and (not self.md5 or md5 == self.md5)


def md5_base64(digest: Any) -> str:
    """A hashlib MD5 object's digest as W&B writes it (base64)."""
    return base64.b64encode(digest.digest()).decode("ascii")


def new_file_beside(target: Path) -> tuple[int, Path]:
    """A new, empty temporary file in `target`'s directory (made if missing), created
    0o666 so the umask decides its mode as for any file the user writes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".runapi-{secrets.token_hex(6)}.part"
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp


def download(
    ctx: Context,
    url: str,
    target: Path,
    *,
    what: str,
    signed: bool,
    expected: Expected,
    mismatch: Callable[[int, str], DownloadIntegrityError],
    on_bytes: Callable[[int], None] = lambda _count: None,
) -> None:
    """Stream `url` into `target`, whole and verified or not at all.

    `mismatch(size, md5)` builds the error raised when the bytes received are not what
    `expected` says; `on_bytes(n)` is called as bytes arrive (progress bars).
    """
    fd, tmp = new_file_beside(target)
    try:
        hasher = hashlib.md5()
        size = 0
        with os.fdopen(fd, "wb") as out, stream(ctx, url, what=what, signed=signed) as response:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                out.write(chunk)
                hasher.update(chunk)
                size += len(chunk)
                on_bytes(len(chunk))
        md5 = md5_base64(hasher)
        if not expected.matches(size, md5):
            raise mismatch(size, md5)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
