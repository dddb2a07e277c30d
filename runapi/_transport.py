"""`RetryTransport`: the one place where requests are retried."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from ._retry import backoff, parse_retry_after, reached_server, should_retry

logger = logging.getLogger("runapi")

MUTATION_EXTENSION = "runapi_mutation"
"""Request extension key marking a request that must not be applied twice."""


class RetryTransport(httpx.BaseTransport):
    """Wrap a transport and retry per `runapi._retry` with backoff.

    Requests whose `extensions` carry `{"runapi_mutation": True}` are retried only on
    errors that prove they were never sent, and on 429.

    ```python
    transport = RetryTransport(httpx.HTTPTransport(), max_retries=2)
    client = httpx.Client(transport=transport)
    ```
    """

    def __init__(
        self,
        transport: httpx.BaseTransport,
        *,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        self._transport = transport
        self._max_retries = max_retries
        self._sleep = sleep

    @property
    def max_retries(self) -> int:
        """How many times a request is retried at most (attempts = max_retries + 1)."""
        return self._max_retries

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_mutation = bool(request.extensions.get(MUTATION_EXTENSION, False))
        attempt = 0
        while True:
            try:
                response = self._transport.handle_request(request)
            except httpx.TransportError as exc:
                if attempt >= self._max_retries or not should_retry(
                    exc, is_mutation=is_mutation, reached_server=reached_server(exc)
                ):
                    raise
                delay = backoff(attempt)
                logger.info(
                    "retrying %s %s in %.2fs after %s (retry %d of %d)",
                    request.method,
                    request.url.copy_with(query=None),
                    delay,
                    type(exc).__name__,
                    attempt + 1,
                    self._max_retries,
                )
            else:
                if attempt >= self._max_retries or not should_retry(
                    response.status_code, is_mutation=is_mutation
                ):
                    return response
                delay = backoff(attempt, parse_retry_after(response.headers))
                response.read()
                response.close()
                logger.info(
                    "retrying %s %s in %.2fs after HTTP %d (retry %d of %d)",
                    request.method,
                    request.url.copy_with(query=None),
                    delay,
                    response.status_code,
                    attempt + 1,
                    self._max_retries,
                )
            self._sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._transport.close()
