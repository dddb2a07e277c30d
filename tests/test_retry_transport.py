"""Retries through the real stack: a fault-injecting transport in front of the live server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from conftest import User, free_port
from runapi_generated.input_types import DeleteRunInput
from seeding import close_apis, make_api, new_run, track

import runapi
from runapi._retry import INITIAL_DELAY, JITTER, MAX_DELAY

__all__ = ["close_apis"]


@dataclass
class Fault:
    """What to do with one request instead of (or after) passing it on."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: type[httpx.TransportError] | None = None
    forward: bool = False
    """Pass the request to the server first (it is applied), then answer with the fault."""


class FaultTransport(httpx.BaseTransport):
    """Wraps `httpx.HTTPTransport`; the first requests to /graphql meet `faults` in order."""

    def __init__(self, faults: list[Fault], *, mutations_only: bool = False) -> None:
        self._inner = httpx.HTTPTransport()
        self._faults = list(faults)
        self.mutations_only = mutations_only
        self.attempts: list[httpx.Request] = []
        self.forwarded = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/graphql"):
            self.attempts.append(request)
            is_mutation = bool(request.extensions.get("runapi_mutation"))
            if self._faults and (is_mutation or not self.mutations_only):
                fault = self._faults.pop(0)
                if fault.forward:
                    real = self._inner.handle_request(request)
                    real.read()
                    real.close()
                    self.forwarded += 1
                if fault.error is not None:
                    raise fault.error("injected", request=request)
                assert fault.status is not None
                return httpx.Response(
                    fault.status, headers=fault.headers, content=b"injected", request=request
                )
            self.forwarded += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _api(user: User, faults: list[Fault], **kwargs: float) -> tuple[runapi.Api, FaultTransport]:
    transport = FaultTransport(faults)
    return make_api(user, transport=transport, **kwargs), transport


def test_503_burst_then_success(user: User) -> None:
    api, transport = _api(user, [Fault(502), Fault(503)])
    assert api.viewer().name == user.name
    assert len(transport.attempts) == 3


def _sleeps_api(user: User, faults: list[Fault]) -> tuple[runapi.Api, list[float]]:
    """An Api whose retries record their waits instead of sleeping them."""
    sleeps: list[float] = []
    api = make_api(user, transport=FaultTransport(faults), sleep=sleeps.append)
    return api, sleeps


def _backoff_bounds(attempt: int) -> tuple[float, float]:
    full = min(INITIAL_DELAY * 2**attempt, MAX_DELAY)
    return full * (1 - JITTER), full


def test_429_without_retry_after_uses_backoff(user: User) -> None:
    api, sleeps = _sleeps_api(user, [Fault(429)])
    assert api.viewer().name == user.name
    (wait,) = sleeps
    low, high = _backoff_bounds(0)
    assert low <= wait <= high


def test_429_honours_retry_after(user: User) -> None:
    api, sleeps = _sleeps_api(user, [Fault(429, headers={"Retry-After": "1.2"})])
    assert api.viewer().name == user.name
    assert sleeps == [1.2]


def test_exhausted_retries_raise_server_error_after_bounded_backoff(user: User) -> None:
    api, sleeps = _sleeps_api(user, [Fault(503)] * 10)
    with pytest.raises(runapi.ServerError) as info:
        api.viewer()
    assert info.value.status_code == 503
    assert len(sleeps) == 2  # max_retries=2: three attempts, two waits
    for attempt, wait in enumerate(sleeps):
        low, high = _backoff_bounds(attempt)
        assert low <= wait <= high


def test_exhausted_429_raises_rate_limit_error(user: User) -> None:
    api, transport = _api(user, [Fault(429, headers={"Retry-After": "0"})] * 5, max_retries=1)
    with pytest.raises(runapi.RateLimitError):
        api.viewer()
    assert len(transport.attempts) == 2


def test_max_retries_zero_does_not_retry(user: User) -> None:
    api, transport = _api(user, [Fault(503)], max_retries=0)
    with pytest.raises(runapi.ServerError):
        api.viewer()
    assert len(transport.attempts) == 1


def test_408_and_connect_errors_are_retried(user: User) -> None:
    api, transport = _api(user, [Fault(408), Fault(error=httpx.ConnectError)])
    assert api.viewer().name == user.name
    assert len(transport.attempts) == 3


def test_read_timeout_on_query_is_retried(user: User) -> None:
    api, transport = _api(user, [Fault(error=httpx.ReadTimeout)])
    assert api.viewer().name == user.name
    assert len(transport.attempts) == 2


def test_other_4xx_are_not_retried(user: User) -> None:
    api, transport = _api(user, [Fault(400), Fault(403), Fault(404)])
    with pytest.raises(runapi.BadRequestError):
        api.viewer()
    with pytest.raises(runapi.PermissionDeniedError):
        api.viewer()
    with pytest.raises(runapi.NotFoundError):
        api.viewer()
    assert len(transport.attempts) == 3


def test_mutation_not_retried_on_5xx(user: User) -> None:
    api, transport = _api(user, [])
    run = new_run(api, user, project="retry")
    transport._faults = [Fault(502, forward=True)]
    transport.mutations_only = True
    before = len(transport.attempts)
    run.notes = "applied once"
    with pytest.raises(runapi.ServerError):
        run.update()
    # the re-read is a query (1 attempt), the upsert a mutation (1 attempt, no retry)
    assert len(transport.attempts) - before == 2
    assert make_api(user).run("/".join(run.path)).notes == "applied once"


def test_mutation_not_retried_on_read_timeout(user: User) -> None:
    api, transport = _api(user, [Fault(error=httpx.ReadTimeout, forward=True)])
    with pytest.raises(runapi.APITimeoutError):
        runapi.Run.create(api, run_id="once0001", project="retry", entity=user.entity)
    assert len(transport.attempts) == 1
    assert transport.forwarded == 1
    assert make_api(user).run(f"{user.entity}/retry/once0001").id == "once0001"


def test_mutation_retried_on_connect_error_and_429(user: User) -> None:
    api, transport = _api(
        user, [Fault(error=httpx.ConnectError), Fault(429, headers={"Retry-After": "0"})]
    )
    run = runapi.Run.create(api, project="retry", entity=user.entity)
    assert len(transport.attempts) == 3
    assert transport.forwarded == 1
    assert run.state == "running"


def test_graphql_error_is_not_retried(user: User) -> None:
    api, transport = _api(user, [])
    gql = api._ctx.gql
    before = len(transport.attempts)
    with pytest.raises(runapi.GraphQLError) as info:
        gql.call(gql.client.delete_run, input=DeleteRunInput(id="bm8gc3VjaCBydW4="))
    assert info.value.errors
    assert "message" in info.value.errors[0]
    assert len(transport.attempts) - before == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conns.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(timeout=5)
    for conn in conns:
        conn.close()
    sock.close()


def test_timeout_raises_api_timeout_error_after_one_retry(silent_server: str) -> None:
    sleeps: list[float] = []
    api = track(
        runapi.Api(
            api_key="k" * 40,
            base_url=silent_server,
            timeout=0.3,
            max_retries=1,
            sleep=sleeps.append,
        )
    )
    with pytest.raises(runapi.APITimeoutError):
        api.viewer()
    assert len(sleeps) == 1


def test_connection_refused_raises_api_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    api = track(runapi.Api(api_key="k" * 40, base_url=url, max_retries=1))
    with pytest.raises(runapi.APIConnectionError) as info:
        api.viewer()
    assert not isinstance(info.value, runapi.APITimeoutError)
    assert str(info.value).startswith(f"GraphQL get_viewer to {url}/graphql failed to connect")


def test_invalid_json_answer_is_response_validation_error(user: User) -> None:
    class Garbage(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=b"<html>proxy</html>", request=request)

    api = make_api(user, transport=Garbage())
    with pytest.raises(runapi.ResponseValidationError):
        api.viewer()

    class WrongShape(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            body = {"data": {"viewer": {"id": 5}}}
            return httpx.Response(200, content=json.dumps(body).encode(), request=request)

    with pytest.raises(runapi.ResponseValidationError):
        make_api(user, transport=WrongShape()).viewer()
