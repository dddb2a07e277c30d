"""The pure retry rules and backoff (table tests)."""

from __future__ import annotations

import httpx
import pytest

from runapi._retry import (
    MAX_DELAY,
    MAX_RETRY_AFTER,
    backoff,
    parse_retry_after,
    reached_server,
    should_retry,
)

_REQ = httpx.Request("POST", "http://x/graphql")


@pytest.mark.parametrize(
    ("outcome", "is_mutation", "expected"),
    [
        (200, False, False),
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (409, False, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
        (408, True, False),
        (429, True, True),
        (500, True, False),
        (503, True, False),
    ],
)
def test_should_retry_status(outcome: int, is_mutation: bool, expected: bool) -> None:
    assert should_retry(outcome, is_mutation=is_mutation) is expected


@pytest.mark.parametrize(
    ("error", "is_mutation", "expected"),
    [
        (httpx.ConnectError("refused", request=_REQ), False, True),
        (httpx.ConnectError("refused", request=_REQ), True, True),
        (httpx.ConnectTimeout("slow", request=_REQ), True, True),
        (httpx.PoolTimeout("pool", request=_REQ), True, True),
        (httpx.ReadTimeout("slow", request=_REQ), False, True),
        (httpx.ReadTimeout("slow", request=_REQ), True, False),
        (httpx.WriteTimeout("slow", request=_REQ), True, False),
        (httpx.ReadError("reset", request=_REQ), False, True),
        (httpx.ReadError("reset", request=_REQ), True, False),
        (httpx.RemoteProtocolError("bad", request=_REQ), False, True),
        (httpx.RemoteProtocolError("bad", request=_REQ), True, False),
        (httpx.UnsupportedProtocol("ftp", request=_REQ), False, False),
        (httpx.LocalProtocolError("bad", request=_REQ), False, False),
        (ValueError("not transport"), False, False),
    ],
)
def test_should_retry_errors(error: Exception, is_mutation: bool, expected: bool) -> None:
    got = should_retry(error, is_mutation=is_mutation, reached_server=reached_server(error))
    assert got is expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rand", "expected"),
    [
        (0, None, 0.0, 0.5),
        (1, None, 0.0, 1.0),
        (2, None, 0.0, 2.0),
        (3, None, 0.0, 4.0),
        (4, None, 0.0, MAX_DELAY),
        (20, None, 0.0, MAX_DELAY),
        (0, None, 1.0, 0.375),
        (4, None, 1.0, MAX_DELAY * 0.75),
        (0, 2.0, 0.5, 2.0),
        (5, 0.0, 0.5, 0.0),
        (0, 1000.0, 0.5, MAX_RETRY_AFTER),
        (0, -3.0, 0.5, 0.0),
    ],
)
def test_backoff_table(
    attempt: int, retry_after: float | None, rand: float, expected: float
) -> None:
    assert backoff(attempt, retry_after, rand=lambda: rand) == pytest.approx(expected)


def test_backoff_jitter_stays_in_bounds() -> None:
    for attempt in range(8):
        for _ in range(50):
            delay = backoff(attempt)
            full = min(0.5 * 2**attempt, MAX_DELAY)
            assert 0.75 * full <= delay <= full


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "-2"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    got = parse_retry_after(headers, now=now)
    assert got == (None if expected is None else pytest.approx(expected))
