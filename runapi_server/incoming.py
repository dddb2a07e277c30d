"""Reading a request: the caller's key first, then the body within its size limit, either
whole in memory (:func:`authenticated_body`) or streamed into a file (:func:`receive_file`,
uploads to signed URLs)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from runapi_server.auth import UNAUTHORIZED, AuthUser, authenticate, known_user
from runapi_server.jsonresponse import error_response
from runapi_server.limits import BodyTooLarge, read_limited
from runapi_server.state import ServerState


class Refused(Exception):
    """The request is refused before any work: 401 (no valid key) or 413 (body too large)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code

    def response(self) -> Response:
        return error_response(str(self), self.status_code)


async def authenticated_body(
    request: Request,
    state: ServerState,
    limit: int,
    what: str,
    unauthorized: str = UNAUTHORIZED,
) -> tuple[AuthUser, bytes]:
    """The caller and the whole body; raises `Refused` without reading a body it refuses.

    ```python
    try:
        user, body = await authenticated_body(request, state, 1 << 20, "GraphQL request body")
    except Refused as exc:
        return exc.response()
    ```
    """
    header = request.headers.get("authorization")
    user = known_user(state.db, header)  # a recent key: no thread hop for a database read
    if user is None:
        user = await run_in_threadpool(authenticate, state.db, header)
    if user is None:
        raise Refused(401, unauthorized)
    try:
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), limit, what
        )
    except BodyTooLarge as exc:
        raise Refused(413, str(exc)) from exc
    return user, body


@dataclass(frozen=True)
class Received:
    """An upload written to its file: the MD5 object of its bytes and their count."""

    md5: Any
    size: int


async def receive_file(request: Request, target: Path, limit: int) -> Received:
    """Stream the body into ``target`` (a new temporary file; its directory is made) and
    fsync it. Raises `Refused` (413 past ``limit``, 400 when the body is shorter or longer
    than its Content-Length), leaving no file; any other failure also removes it.

    ```python
    received = await receive_file(request, directory / ".upload.tmp", limits.max_upload_bytes)
    ```
    """
    too_large = f"upload is over the limit of {limit} bytes"
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, too_large)
    await run_in_threadpool(target.parent.mkdir, parents=True, exist_ok=True)
    digest = hashlib.md5()
    size = 0
    handle = await run_in_threadpool(target.open, "wb")
    try:
        async for chunk in request.stream():
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise Refused(413, too_large)
                digest.update(chunk)
                await run_in_threadpool(handle.write, chunk)
        await run_in_threadpool(handle.flush)
        await run_in_threadpool(os.fsync, handle.fileno())
        if declared.isdigit() and int(declared) != size:
            raise Refused(400, f"body has {size} bytes, Content-Length said {declared}")
    except BaseException:
        handle.close()
        target.unlink(missing_ok=True)
        raise
    handle.close()
    return Received(digest, size)
