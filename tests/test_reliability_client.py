"""Client faults: a scripted transport in front of the live server injects truncated and
invalid JSON, connection resets, GraphQL errors with partial data and failing pages. Every
case ends in bounded time with the documented exception or a correct result."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from conftest import User
from seeding import close_apis, log_history, make_api, new_run, steps

import runapi

__all__ = ["close_apis"]

Action = Callable[[httpx.Request, httpx.BaseTransport], httpx.Response]
BOUND_S = 10.0


class ScriptedTransport(httpx.BaseTransport):
    """Passes requests to the real server; the n-th /graphql request (counting from 0)
    meets `script[n]` instead when there is one."""

    def __init__(self, script: dict[int, Action] | None = None) -> None:
        self._inner = httpx.HTTPTransport()
        self.script = dict(script or {})
        self.graphql_requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/graphql"):
            index = self.graphql_requests
            self.graphql_requests += 1
            action = self.script.get(index)
            if action is not None:
                return action(request, self._inner)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def forward(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    response = inner.handle_request(request)
    response.read()
    return response


def truncated(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    real = forward(request, inner)
    return httpx.Response(200, content=real.content[: len(real.content) // 2], request=request)


def invalid_json(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    return httpx.Response(200, content=b'{"data": {"viewer": ', request=request)


def empty_body(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    return httpx.Response(200, content=b"", request=request)


def reset(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)


def disconnected(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response")


def applied_then_reset(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    forward(request, inner)  # the server applied it; the answer is lost
    raise httpx.ReadError("connection reset after the request was sent", request=request)


def partial_data(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    body = {
        "data": {"project": None},
        "errors": [{"message": "injected failure", "path": ["project"], "locations": []}],
    }
    return httpx.Response(200, content=json.dumps(body).encode(), request=request)


def server_error(request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
    return httpx.Response(503, content=b"<html>busy</html>", request=request)


def _api(
    user: User, script: dict[int, Action], max_retries: int = 2
) -> tuple[runapi.Api, ScriptedTransport]:
    transport = ScriptedTransport(script)
    return make_api(user, transport=transport, max_retries=max_retries, timeout=5.0), transport


def _timed(call: Callable[[], object]) -> float:
    start = time.monotonic()
    call()
    elapsed = time.monotonic() - start
    assert elapsed < BOUND_S
    return elapsed


@pytest.mark.parametrize("action", [truncated, invalid_json, empty_body], ids=lambda a: a.__name__)
def test_broken_json_is_response_validation_error(user: User, action: Action) -> None:
    api, transport = _api(user, {0: action})

    def call() -> None:
        with pytest.raises(runapi.ResponseValidationError):
            api.viewer()

    _timed(call)
    assert transport.graphql_requests == 1  # an HTTP 200 is never retried
    assert api.viewer().name == user.name  # the client is still usable


@pytest.mark.parametrize("action", [reset, disconnected], ids=lambda a: a.__name__)
def test_connection_resets_on_a_query_are_retried(user: User, action: Action) -> None:
    api, transport = _api(user, {0: action, 1: action})
    viewer = None

    def call() -> None:
        nonlocal viewer
        viewer = api.viewer()

    _timed(call)
    assert viewer is not None and viewer.name == user.name
    assert transport.graphql_requests == 3


def test_endless_resets_end_in_api_connection_error(user: User) -> None:
    api, transport = _api(user, dict.fromkeys(range(10), reset), max_retries=2)

    def call() -> None:
        with pytest.raises(runapi.APIConnectionError):
            api.viewer()

    _timed(call)
    assert transport.graphql_requests == 3


def test_reset_after_a_mutation_was_sent_is_not_retried(user: User) -> None:
    api, transport = _api(user, {})
    run = new_run(api, user, project="faults")
    before = transport.graphql_requests
    transport.script = {before + 1: applied_then_reset}  # update(): fetch, then the mutation
    run.config["lr"] = 0.5

    def call() -> None:
        with pytest.raises(runapi.APIConnectionError):
            run.update()

    _timed(call)
    assert transport.graphql_requests == before + 2  # not re-sent
    fresh = make_api(user).run(f"{user.entity}/faults/{run.id}")
    assert fresh.config["lr"] == 0.5  # applied exactly once


def test_graphql_errors_with_partial_data(user: User) -> None:
    api, _transport = _api(user, {0: partial_data})
    with pytest.raises(runapi.GraphQLError) as info:
        api.run(f"{user.entity}/nowhere/r1").load()
    assert info.value.data == {"project": None}
    assert info.value.errors[0]["message"] == "injected failure"


def test_persistent_5xx_is_server_error_in_bounded_time(user: User) -> None:
    api, transport = _api(user, dict.fromkeys(range(10), server_error), max_retries=2)

    def call() -> None:
        with pytest.raises(runapi.ServerError):
            api.viewer()

    _timed(call)
    assert transport.graphql_requests == 3


# --------------------------------------------------------------------------- scan_history


@pytest.fixture
def history_run(user: User) -> str:
    api = make_api(user)
    run = new_run(api, user, project="scan")
    log_history(user, run, steps(450))
    return f"{user.entity}/scan/{run.id}"


def _steps(rows: list[dict[str, object]]) -> list[object]:
    return [row["_step"] for row in rows]


@pytest.mark.parametrize("keys", [None, ["loss"]], ids=["all-keys", "some-keys"])
def test_scan_history_retries_a_failed_page(
    user: User, history_run: str, keys: list[str] | None
) -> None:
    # Request 0 loads the run, 1 reads the last step, 2.. are pages: page 2 fails once.
    api, transport = _api(user, {3: server_error, 4: reset}, max_retries=2)
    run = api.run(str(history_run))
    run.load()
    rows = list(run.scan_history(keys=keys, page_size=100))
    assert _steps(rows) == list(range(450))
    assert transport.graphql_requests >= 7


@pytest.mark.parametrize("keys", [None, ["loss"]], ids=["all-keys", "some-keys"])
def test_scan_history_resumes_from_a_step_after_an_error(
    user: User, history_run: str, keys: list[str] | None
) -> None:
    api, transport = _api(user, {}, max_retries=0)
    run = api.run(str(history_run))
    run.load()
    transport.script = {transport.graphql_requests + 3: server_error}  # the third page fails
    seen: list[dict[str, object]] = []
    with pytest.raises(runapi.ServerError):
        for row in run.scan_history(keys=keys, page_size=100):
            seen.append(row)
    assert _steps(seen) == list(range(300))  # windows of 100, then 200 steps (small rows)
    last = seen[-1]["_step"]
    assert isinstance(last, int)
    rest = list(run.scan_history(keys=keys, page_size=100, min_step=last + 1))
    assert _steps(seen + rest) == list(range(450))


# --------------------------------------------------------------------------- update()


def test_update_under_a_concurrent_writer_keeps_their_keys(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="race")
    path = f"{user.entity}/race/{run.id}"
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def other_writer() -> None:
        theirs = make_api(user).run(path)
        i = 0
        try:
            while not stop.is_set():
                theirs.load(force=True)
                theirs.summary[f"theirs{i}"] = i
                theirs.update()
                written.append(i)
                i += 1
                time.sleep(0.01)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        mine = make_api(user).run(path)
        for i in range(15):
            mine.load(force=True)
            mine.config[f"mine{i}"] = i
            mine.update()
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    final = make_api(user).run(path)
    # Mine changed config only, theirs summary only: neither reverted the other's keys.
    assert all(final.config.get(f"mine{i}") == i for i in range(15))
    assert all(final.summary.get(f"theirs{i}") == i for i in written)
