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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from ._context import Context
from ._exceptions import DownloadIntegrityError
from ._graphql import http_status_error, transport_error
from ._http import NO_AUTH, NO_DEADLINE
from ._ranges import RangePlan, presize, range_bounds

REPORT_BYTES = 1 << 20
"""A range reports how far it got to the hashing thread every this many bytes."""
RANGED_MIN_BYTES = 64 << 20
"""A download of a known size this large is fetched in byte ranges, several at once."""
RANGE_BYTES = 32 << 20
"""The size of each range of a ranged download (the last one may be shorter)."""
RANGED_STREAMS = 4
"""At most this many ranges of one download are fetched at the same time."""


def _not_error(response: httpx.Response) -> bool:
    """The default `ok` of `send` and `stream`: any status below 400."""
    return not response.is_error


def send(
    ctx: Context,
    method: str,
    url: str,
    *,
    what: str,
    signed: bool = False,
    long: bool = False,
    ok: Callable[[httpx.Response], bool] = _not_error,
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
    ctx: Context,
    url: str,
    *,
    what: str,
    signed: bool,
    headers: dict[str, str] | None = None,
    ok: Callable[[httpx.Response], bool] = _not_error,
) -> Iterator[httpx.Response]:
    """A streamed `GET` (no total deadline) whose status was checked (`ok`, as in
    `send`); transport failures while reading its body also become runapi errors."""
    options: dict[str, Any] = {"extensions": NO_DEADLINE}
    if signed:
        options["auth"] = NO_AUTH
    if headers:
        options["headers"] = headers
    try:
        with ctx.http.stream("GET", url, **options) as response:
            if not ok(response):
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
    for chunk in response.iter_bytes():  # as they come off the socket (up to 64 KiB)
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
    """`total` bytes as byte ranges of `RANGE_BYTES`, taken in order by up to
    `RANGED_STREAMS` threads, each written at its offset, while this thread hashes the
    file in order behind them (`_ranges.RangePlan`). One stream to start with; the
    hashing asks for another while it waits for bytes (a slow link), none while it is the
    slower side (on one core, MD5 is the limit and more streams only take CPU from it).

    A server that answers the first range with the whole body (200) is read as one
    stream; one that answers any range with other bytes than asked is an error. On the
    first failure no more ranges are asked for and the running ones stop."""
    bounds = range_bounds(total, RANGE_BYTES)
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
        fileno = out.fileno()
        presize(fileno, total)
        with ThreadPoolExecutor(RANGED_STREAMS, thread_name_prefix="runapi-range") as pool:
            streams: list[Future[int]] = []

            def start_stream(response: httpx.Response | None = None) -> None:
                if len(streams) < RANGED_STREAMS and plan.untaken:
                    args = (ctx, url, fileno, plan, total, what, signed, counted, response)
                    streams.append(pool.submit(_stream_ranges, *args))

            plan = RangePlan(bounds, more_streams=start_stream)
            start_stream(first)
            hasher = hashlib.md5()
            try:
                plan.hash_in_order(fileno, hasher)
            except BaseException:
                plan.stop()
                raise
            size = sum(future.result() for future in streams)
    return size, md5_base64(hasher)


def _stream_ranges(
    ctx: Context,
    url: str,
    fileno: int,
    plan: RangePlan,
    total: int,
    what: str,
    signed: bool,
    on_bytes: Callable[[int], None],
    first: httpx.Response | None,
) -> int:
    """Fetch ranges of `plan` one after the other until none is left (`first`: the open
    response of the range taken first); the bytes written. Any failure stops the plan."""
    written = 0
    try:
        while (index := plan.take()) is not None:
            try:
                if first is not None:
                    written += _write_range(first, fileno, index, plan, what, on_bytes)
                    first = None
                    continue
                start, end = plan.bounds[index]
                headers = {"Range": f"bytes={start}-{end}"}
                with stream(ctx, url, what=what, signed=signed, headers=headers) as response:
                    _check_range(response, start, end, total, what)
                    written += _write_range(response, fileno, index, plan, what, on_bytes)
            finally:
                plan.finish(index)
    except BaseException:
        plan.stop()
        raise
    return written


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


def _write_range(
    response: httpx.Response,
    fileno: int,
    index: int,
    plan: RangePlan,
    what: str,
    on_bytes: Callable[[int], None],
) -> int:
    """The body of `response` (range `index`, checked) written at its offset and reported
    to `plan` as it goes; the number of bytes written (fewer when the plan stopped)."""
    start, end = plan.bounds[index]
    offset = reported = start
    for chunk in response.iter_bytes():
        if plan.stopped:
            break
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
        if offset - reported >= REPORT_BYTES:
            plan.advance(index, offset)
            reported = offset
    plan.advance(index, offset)
    return offset - start
