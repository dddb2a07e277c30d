"""The Api's HTTP client keeps no response alive once it is dropped: httpx binds a
response's stream to the response (a reference cycle), which kept every downloaded
history export and GraphQL page in memory until the cyclic collector ran; a scan of
numbers allocates nothing that triggers it, and frame builds pause it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import httpx
import pytest
from conftest import User
from seeding import close_apis, finish, log_history, make_api, new_run, steps

import runapi
import runapi._history
from runapi._json import gc_paused

__all__ = ["close_apis"]


class Body(httpx.SyncByteStream):
    """A response body passed through from the real server."""

    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        self._inner.close()


class Recording(httpx.BaseTransport):
    """Passes requests to the real server and keeps a weak reference to each response's
    body: the body lives as long as the response the client hands on (through the retry
    transport's wrapping) does."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bodies: list[weakref.ref[Body]] = []
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        body = Body(response.stream)
        self.bodies.append(weakref.ref(body))
        self.paths.append(request.url.path)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=body,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    with gc_paused():
        yield


@pytest.fixture
def finished_run(user: User) -> str:
    run = new_run(make_api(user), user)
    log_history(user, run, steps(3000), chunk=1000)
    finish(user, run)  # readers get parquet exports of a finished run
    return "/".join(run.path)


READS: dict[str, Callable[[runapi.Run], object]] = {
    "sampled": lambda run: run.history(samples=100),
    "sampled keys": lambda run: run.history(samples=100, keys=["loss"]),
    "scan rows (exports)": lambda run: sum(1 for _ in run.scan_history()),
    "scan frame (exports)": lambda run: run.scan_history().to_pandas(),
    "scan frame (GraphQL pages)": lambda run: run.scan_history().to_pandas(parquet=False),
}


@pytest.mark.parametrize("read", READS, ids=list(READS))
def test_responses_are_freed_when_dropped(
    user: User, finished_run: str, collector_off: None, read: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runapi._history, "SMALL_SCAN_VALUES", 0)  # a small run: exports too
    transport = Recording()
    api = make_api(user, transport=transport)
    READS[read](api.run(finished_run))
    downloads = [path for path in transport.paths if not path.endswith("/graphql")]
    assert bool(downloads) == ("exports" in read), transport.paths
    bodies = zip(transport.paths, transport.bodies, strict=True)
    alive = [path for path, ref in bodies if ref() is not None]
    assert not alive
