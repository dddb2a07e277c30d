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
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from ._context import Context
from ._exceptions import DownloadIntegrityError
from ._graphql import http_status_error, transport_error
from ._http import NO_AUTH, NO_DEADLINE

CHUNK_BYTES = 1 << 20
RANGED_MIN_BYTES = 64 << 20
"""A download of a known size this large is fetched as `RANGED_PARTS` ranges at once."""
RANGED_PARTS = 4


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
def stream(
    ctx: Context, url: str, *, what: str, signed: bool, headers: dict[str, str] | None = None
) -> Iterator[httpx.Response]:
    """A streamed `GET` (no total deadline) whose status was checked; transport failures
    while reading its body also become runapi errors."""
    options: dict[str, Any] = {"extensions": NO_DEADLINE}
    if signed:
        options["auth"] = NO_AUTH
    if headers:
        options["headers"] = headers
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
    return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), tmp


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
        with os.fdopen(fd, "wb") as out:
            ranged = expected.size is not None and expected.size >= RANGED_MIN_BYTES
            if ranged and expected.size is not None:
                size, md5 = _ranged(ctx, url, out, expected.size, what, signed, on_bytes)
            else:
                size, md5 = _whole(ctx, url, out, what, signed, on_bytes)
        if not expected.matches(size, md5):
            raise mismatch(size, md5)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _whole(
    ctx: Context, url: str, out: BinaryIO, what: str, signed: bool, on_bytes: Callable[[int], None]
) -> tuple[int, str]:
    """One stream of the whole body into `out`: its size and MD5."""
    with stream(ctx, url, what=what, signed=signed) as response:
        return _copy(response, out, hashlib.md5(), on_bytes)


def _copy(
    response: httpx.Response, out: BinaryIO, hasher: Any, on_bytes: Callable[[int], None]
) -> tuple[int, str]:
    size = 0
    for chunk in response.iter_bytes(CHUNK_BYTES):
        out.write(chunk)
        hasher.update(chunk)
        size += len(chunk)
        on_bytes(len(chunk))
    return size, md5_base64(hasher)


def _ranged(
    ctx: Context,
    url: str,
    out: BinaryIO,
    total: int,
    what: str,
    signed: bool,
    on_bytes: Callable[[int], None],
) -> tuple[int, str]:
    """`total` bytes in `RANGED_PARTS` byte ranges fetched at once (a single stream
    through one connection is bound by one thread's reading), each written at its offset.
    The first range is hashed as it arrives, the others from the file once they are all
    there. A server that answers the first range with the whole body (200) is read as one
    stream; one that answers any range with other bytes than asked is an error."""
    bounds = _range_bounds(total, RANGED_PARTS)
    lock = threading.Lock()

    def counted(count: int) -> None:
        with lock:
            on_bytes(count)

    first_start, first_end = bounds[0]
    first_headers = {"Range": f"bytes={first_start}-{first_end}"}
    with stream(ctx, url, what=what, signed=signed, headers=first_headers) as first:
        if first.status_code == 200:  # no ranges here: this is the whole body
            return _copy(first, out, hashlib.md5(), counted)
        _check_range(first, first_start, first_end, total, what)
        out.flush()
        with ThreadPoolExecutor(len(bounds) - 1, thread_name_prefix="runapi-range") as pool:
            rest = [
                pool.submit(_fetch_range, ctx, url, out.fileno(), b, total, what, signed, counted)
                for b in bounds[1:]
            ]
            hasher = hashlib.md5()
            try:
                size, _ = _copy(first, out, hasher, counted)
                out.flush()
            except BaseException:
                for future in rest:
                    future.cancel()
                raise
            size += sum(future.result() for future in rest)
    for start, end in bounds[1:]:  # the other ranges' bytes, in order, from the file
        offset = start
        while offset <= end:
            chunk = os.pread(out.fileno(), min(CHUNK_BYTES, end - offset + 1), offset)
            if not chunk:
                break
            hasher.update(chunk)
            offset += len(chunk)
    return size, md5_base64(hasher)


def _range_bounds(total: int, parts: int) -> list[tuple[int, int]]:
    """`parts` inclusive byte ranges covering `total` bytes, in order."""
    step = -(-total // parts)
    return [(start, min(start + step, total) - 1) for start in range(0, total, step)]


def _check_range(response: httpx.Response, start: int, end: int, total: int, what: str) -> None:
    """The response must be the 206 of exactly bytes `start`-`end` of `total`."""
    expected = f"bytes {start}-{end}/{total}"
    got = response.headers.get("content-range", "")
    if response.status_code != 206 or got.replace(" ", "") != expected.replace(" ", ""):
        received = f"{response.status_code} {got!r}"
        raise DownloadIntegrityError(
            f"{what}: asked for {expected}, the server answered {received}",
            name=what,
            expected=expected,
            received=received,
        )


def _fetch_range(
    ctx: Context,
    url: str,
    fileno: int,
    bounds: tuple[int, int],
    total: int,
    what: str,
    signed: bool,
    on_bytes: Callable[[int], None],
) -> int:
    """One byte range of the body, written at its offset; the number of bytes written."""
    start, end = bounds
    headers = {"Range": f"bytes={start}-{end}"}
    offset = start
    with stream(ctx, url, what=what, signed=signed, headers=headers) as response:
        _check_range(response, start, end, total, what)
        for chunk in response.iter_bytes(CHUNK_BYTES):
            if offset + len(chunk) > end + 1:
                raise DownloadIntegrityError(
                    f"{what}: more bytes than range {start}-{end} holds",
                    name=what,
                    expected=f"{end - start + 1} bytes",
                    received=f"more than {offset - start + len(chunk) - 1} bytes",
                )
            os.pwrite(fileno, chunk, offset)
            offset += len(chunk)
            on_bytes(len(chunk))
    return offset - start
