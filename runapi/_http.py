"""The one `httpx.Client` of an `Api`, and the adapter the generated client posts through."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx

from ._config import Settings
from ._transport import MUTATION_EXTENSION, RetryTransport

USER_AGENT = "runapi/0.1"

MUTATION: dict[str, object] = {MUTATION_EXTENSION: True}
"""Pass as `extensions=MUTATION` to mark a request as not safely repeatable."""

NO_AUTH = httpx.Auth()
"""Pass as `auth=NO_AUTH` for URLs that must not receive the API key (signed URLs)."""


def _configure_logging() -> None:
    """`RUNAPI_LOG=info|debug` prints retries (never headers) to stderr; silent otherwise."""
    level = os.environ.get("RUNAPI_LOG", "").upper()
    logger = logging.getLogger("runapi")
    if level in ("INFO", "DEBUG") and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s runapi %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


def build_client(
    settings: Settings,
    *,
    timeout: float,
    max_retries: int,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The client: base URL, Basic auth `api:KEY`, timeout, retries around `transport`.

    No I/O happens here; connections open on the first request.
    """
    _configure_logging()
    inner = transport if transport is not None else httpx.HTTPTransport()
    return httpx.Client(
        base_url=settings.base_url + "/",
        auth=httpx.BasicAuth("api", settings.api_key),
        timeout=httpx.Timeout(timeout),
        transport=RetryTransport(inner, max_retries=max_retries),
        headers={"User-Agent": USER_AGENT},
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
