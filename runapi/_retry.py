"""Retry decisions and backoff: pure functions, no I/O (the transport does the waiting).

Retried: connect errors, timeouts, HTTP 408, 429 and 5xx. Never retried: GraphQL errors
(they arrive as HTTP 200), other 4xx. A mutation is retried only when the request cannot
have reached the server (connect errors) or on 429, so it is never applied twice.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping

import httpx

INITIAL_DELAY = 0.5
"""Seconds before the first retry (doubled for each further attempt)."""
MAX_DELAY = 8.0
"""Cap of the exponential backoff, seconds."""
MAX_RETRY_AFTER = 30.0
"""A server's `Retry-After` is honoured up to this many seconds."""
JITTER = 0.25
"""The backoff is reduced by a random fraction up to this much."""

RETRY_STATUSES = frozenset({408, 429})

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def is_retryable_status(status_code: int) -> bool:
    """Whether an HTTP status may be retried at all (408, 429, 5xx)."""
    return status_code in RETRY_STATUSES or 500 <= status_code <= 599


def reached_server(error: BaseException) -> bool:
    """False only when `error` proves the request was never sent (connect failures)."""
    return not isinstance(error, _NOT_SENT)


def is_retryable_error(error: BaseException) -> bool:
    """Whether a transport error may be retried at all (timeouts, network errors)."""
    return isinstance(error, _RETRYABLE_ERRORS)


def should_retry(
    outcome: int | BaseException, *, is_mutation: bool, reached_server: bool = True
) -> bool:
    """Decide whether to retry after an HTTP status (int) or a transport exception.

    ```python
    >>> should_retry(503, is_mutation=False)
    True
    >>> should_retry(503, is_mutation=True)
    False
    >>> should_retry(httpx.ConnectError("refused"), is_mutation=True, reached_server=False)
    True
    ```
    """
    if isinstance(outcome, int):
        if not is_retryable_status(outcome):
            return False
        return not is_mutation or outcome == 429
    if not is_retryable_error(outcome):
        return False
    return not is_mutation or not reached_server


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or `retry-after-ms`.

    None when absent or unparsable.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff(
    attempt: int,
    retry_after: float | None = None,
    *,
    initial_delay: float = INITIAL_DELAY,
    max_delay: float = MAX_DELAY,
    max_retry_after: float = MAX_RETRY_AFTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number `attempt + 1` (attempt counts from 0).

    A `retry_after` from the server wins, capped at `max_retry_after`; otherwise
    `initial_delay * 2**attempt` capped at `max_delay`, minus up to `JITTER` of it.

    ```python
    >>> backoff(0, rand=lambda: 0.0)
    0.5
    >>> backoff(10, rand=lambda: 0.0)
    8.0
    >>> backoff(0, retry_after=100.0)
    30.0
    ```
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), max_retry_after)
    delay = min(initial_delay * (2.0 ** max(attempt, 0)), max_delay)
    return delay * (1.0 - JITTER * rand())
