"""The one `httpx.Client` of an `Api`, and the adapter the generated client posts through."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from ._config import Settings
from ._transport import DEADLINE_EXTENSION, MUTATION_EXTENSION, RetryTransport

USER_AGENT = "runapi/0.1"

_logger = logging.getLogger("runapi")

MUTATION: dict[str, object] = {MUTATION_EXTENSION: True}
"""Pass as `extensions=MUTATION` to mark a request as not safely repeatable."""

NO_AUTH = httpx.Auth()
"""Pass as `auth=NO_AUTH` for URLs that must not receive the API key (signed URLs)."""
NO_DEADLINE: dict[str, object] = {DEADLINE_EXTENSION: None}
"""Pass as `extensions=NO_DEADLINE` for file downloads: only per-read timeouts apply."""


def _configure_logging() -> None:
    """`RUNAPI_LOG=info` prints retries to stderr, `RUNAPI_LOG=debug` also every request
    (method, URL, status, headers with `Authorization` redacted); silent otherwise."""
    level = os.environ.get("RUNAPI_LOG", "").upper()
    logger = logging.getLogger("runapi")
    if level in ("INFO", "DEBUG") and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s runapi %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


_SECRET_QUERY_PARAMS = frozenset({"signature", "token", "api_key"})
REDACTED = "[redacted]"


def redacted_headers(headers: httpx.Headers) -> dict[str, str]:
    """The headers with `Authorization` (and cookies) replaced by `[redacted]`.

    ```python
    >>> redacted_headers(httpx.Headers({"Authorization": "Basic abc", "Accept": "*/*"}))
    {'authorization': '[redacted]', 'accept': '*/*'}
    ```
    """
    secret = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
    return {k: REDACTED if k.lower() in secret else v for k, v in headers.items()}


def redacted_url(url: httpx.URL) -> str:
    """`url` with secret query values (`signature`, `token`) replaced by `[redacted]`."""
    if not url.query:
        return str(url)
    params = [
        (k, REDACTED if k.lower() in _SECRET_QUERY_PARAMS else v)
        for k, v in url.params.multi_items()
    ]
    return str(url.copy_with(params=params))


def _log_response(response: httpx.Response) -> None:
    """httpx response hook: one debug line per request (auth redacted)."""
    if not _logger.isEnabledFor(logging.DEBUG):
        return
    request = response.request
    _logger.debug(
        "%s %s -> %d (request headers: %s)",
        request.method,
        redacted_url(request.url),
        response.status_code,
        redacted_headers(request.headers),
    )


class Client(httpx.Client):
    """An `httpx.Client` whose read responses are freed as soon as they are dropped.

    httpx binds each response's stream to the response itself (a reference cycle), so a
    response and its body stay in memory until the cyclic garbage collector runs; a
    scan allocating no tracked objects (rows of numbers) or a build with the collector
    paused (`gc_paused`) would keep every downloaded export or page until then. Once
    `send` has read a body, the response's stream is the body itself, as for a response
    built from bytes: no cycle, nothing kept. A response of `stream` gets the same once
    its block is left (the response closed; while streamed it keeps httpx's stream).
    """

    def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        response = super().send(request, stream=stream, **kwargs)
        if not stream:
            response.stream = httpx.ByteStream(response.content)
        return response

    @contextmanager
    def stream(self, method: str, url: httpx.URL | str, **kwargs: Any) -> Iterator[httpx.Response]:
        """httpx's `stream`; once the block is left (the response closed), the response's
        stream is its body if it was read, else empty: the same cycle broken."""
        with super().stream(method, url, **kwargs) as response:
            yield response
        try:
            body = response.content
        except httpx.ResponseNotRead:
            body = b""
        response.stream = httpx.ByteStream(body)


def build_client(
    settings: Settings,
    *,
    timeout: float,
    max_retries: int,
    deadline: float | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Client:
    """The client: base URL, Basic auth `api:KEY`, per-read timeout, retries and a total
    deadline per request around `transport`.

    No I/O happens here; connections open on the first request.
    """
    _configure_logging()
    inner = transport if transport is not None else httpx.HTTPTransport()
    return Client(
        base_url=settings.base_url + "/",
        auth=httpx.BasicAuth("api", settings.api_key),
        timeout=httpx.Timeout(timeout),
        transport=RetryTransport(inner, max_retries=max_retries, deadline_s=deadline, sleep=sleep),
        headers={"User-Agent": USER_AGENT},
        event_hooks={"response": [_log_response]},
    )


def same_origin(url: str | httpx.URL, base: str | httpx.URL) -> bool:
    """Whether `url` has the scheme, host and port of `base` (credentials may go there)."""
    a, b = httpx.URL(url), httpx.URL(base)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class GraphQLHttp:
    """Satisfies the generated `HttpClient` protocol on top of an `httpx.Client`.

    Only `json` bodies, `headers` and the `extensions` / `timeout` keywords are passed on.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def post(
        self,
        url: Any | str,
        json: Any | None = None,
        data: Any | None = None,
        files: Any | None = None,
        headers: Any | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if data is not None or files is not None:
            raise TypeError("runapi sends GraphQL as JSON only (no multipart uploads)")
        extensions: dict[str, object] = {}
        raw = kwargs.pop("extensions", None)
        if isinstance(raw, Mapping):
            extensions.update({str(k): v for k, v in raw.items()})
        if kwargs:
            raise TypeError(f"unsupported request options: {sorted(kwargs)}")
        request_headers: dict[str, str] = {}
        if isinstance(headers, Mapping):
            request_headers.update({str(k): str(v) for k, v in headers.items()})
        return self._client.post(
            str(url), json=json, headers=request_headers, extensions=extensions
        )

    def close(self) -> None:
        self._client.close()
