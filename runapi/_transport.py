"""`RetryTransport`: the one place where requests are retried."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import httpx

from ._retry import backoff, parse_retry_after, reached_server, should_retry

logger = logging.getLogger("runapi")

MUTATION_EXTENSION = "runapi_mutation"
"""Request extension key marking a request that must not be applied twice."""
DEADLINE_EXTENSION = "runapi_deadline"
"""Request extension key overriding the total deadline of one request (seconds, or None
for none: file downloads, whose length is not known in advance)."""


class DeadlineExceeded(httpx.TimeoutException):
    """A request's total deadline (connect, reads and retries together) passed."""


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that fails once the request's deadline passes, between chunks."""

    def __init__(self, inner: httpx.SyncByteStream, end: float, request: httpx.Request) -> None:
        self._inner = inner
        self._end = end
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._end:
                raise DeadlineExceeded(_deadline_message(self._request), request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _deadline_message(request: httpx.Request) -> str:
    deadline = request.extensions.get(DEADLINE_EXTENSION)
    return f"no complete answer within the total deadline of {deadline}s"


def _capped_timeouts(request: httpx.Request, remaining: float) -> None:
    """Cap each phase's timeout of `request` at the `remaining` seconds."""
    timeouts = dict(request.extensions.get("timeout") or {})
    for phase in ("connect", "read", "write", "pool"):
        current = timeouts.get(phase)
        timeouts[phase] = remaining if current is None else min(current, remaining)
    request.extensions["timeout"] = timeouts


class RetryTransport(httpx.BaseTransport):
    """Wrap a transport and retry per `runapi._retry` with backoff.

    Requests whose `extensions` carry `{"runapi_mutation": True}` are retried only on
    errors that prove they were never sent, and on 429.

    `deadline_s` bounds each request as a whole: connecting, every attempt, the backoff
    between them and reading the body. Each read's timeout is capped at the time left,
    the body fails between chunks once it is over (a server dripping bytes cannot hold a
    call), and no retry starts that could not finish in time. It raises
    `DeadlineExceeded` (an `httpx.TimeoutException`). A request's `runapi_deadline`
    extension overrides it (None: no deadline).

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
        deadline_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        if deadline_s is not None and not deadline_s > 0:
            raise ValueError(f"deadline_s must be a positive number or None, not {deadline_s}")
        self._transport = transport
        self._max_retries = max_retries
        self._deadline_s = deadline_s
        self._sleep = sleep

    @property
    def max_retries(self) -> int:
        """How many times a request is retried at most (attempts = max_retries + 1)."""
        return self._max_retries

    @property
    def deadline_s(self) -> float | None:
        """The total deadline of a request in seconds (None: only per-read timeouts)."""
        return self._deadline_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = request.extensions.get(DEADLINE_EXTENSION, self._deadline_s)
        if deadline is None:
            return self._handle(request, None)
        request.extensions[DEADLINE_EXTENSION] = deadline
        end = time.monotonic() + float(deadline)
        response = self._handle(request, end)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_DeadlineStream(_sync_stream(response), end, request),
            extensions=response.extensions,
            request=request,
        )

    def _handle(self, request: httpx.Request, end: float | None) -> httpx.Response:
        is_mutation = bool(request.extensions.get(MUTATION_EXTENSION, False))
        attempt = 0
        while True:
            if end is not None:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise DeadlineExceeded(_deadline_message(request), request=request)
                _capped_timeouts(request, remaining)
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
            if end is not None and time.monotonic() + delay >= end:
                raise DeadlineExceeded(_deadline_message(request), request=request)
            self._sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._transport.close()


def _sync_stream(response: httpx.Response) -> httpx.SyncByteStream:
    stream = response.stream
    if not isinstance(stream, httpx.SyncByteStream):
        raise TypeError("RetryTransport needs a synchronous transport")
    return stream
