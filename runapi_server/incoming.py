"""Reading an API request: the caller's key first, then the body within its size limit."""

from __future__ import annotations

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
