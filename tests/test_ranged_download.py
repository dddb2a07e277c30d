"""Big downloads come as byte ranges (`_rest.RANGED_MIN_BYTES` and `_rest.RANGE_BYTES`,
lowered here), written at their offsets and hashed in order behind them: exact bytes,
corruption found in any range, a server without ranges read whole, a wrong, short or
broken range answer refused, and nothing left behind by any failure."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi
from runapi import _ranges, _rest

__all__ = ["close_apis"]

BIG = "big/data.bin"
STEP = 100_000
"""Range size in these tests: 300,001 bytes come as 4 ranges, the last of 1 byte."""


class RangeTransport(httpx.BaseTransport):
    """The real transport; records the Range header of each GET (and the threads asking
    for ranges after the first) and lets a test rewrite it before the request is sent,
    replace the response (`body`), or hold range `hold[0]` until `hold[1]` is asked for."""

    def __init__(
        self,
        rewrite: Callable[[str], str | None] | None = None,
        body: Callable[[str, httpx.Response], httpx.Response] | None = None,
        hold: tuple[str, str] | None = None,
    ) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.ranges: list[str | None] = []
        self.threads: set[str] = set()
        self.rewrite = rewrite
        self.body = body
        self.hold = hold
        self.released = threading.Event()
        self.released_while_held = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and not request.url.path.endswith("/graphql"):
            wanted = request.headers.get("range")
            with self._lock:
                self.ranges.append(wanted)
                if wanted is not None and not wanted.startswith("bytes=0-"):
                    self.threads.add(threading.current_thread().name)
            if self.hold is not None and wanted == self.hold[1]:
                self.released.set()
            if self.hold is not None and wanted == self.hold[0]:
                # the other range must come from another stream while this one is held
                self.released_while_held = self.released.wait(timeout=10)
            if wanted is not None and self.rewrite is not None:
                new = self.rewrite(wanted)
                if new is None:
                    del request.headers["range"]
                else:
                    request.headers["range"] = new
            if wanted is not None and self.body is not None:
                return self.body(wanted, self._inner.handle_request(request))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rest, "RANGED_MIN_BYTES", 100_000)
    monkeypatch.setattr(_rest, "RANGE_BYTES", STEP)


@pytest.fixture(params=["one stream", "streams at once"])
def streams(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the ranges fetched one at a time, and with every stream asked for
    at once (the hashing asks for more whenever it waits)."""
    if request.param == "one stream":
        monkeypatch.setattr(_rest, "RANGED_STREAMS", 1)
    else:
        monkeypatch.setattr(_ranges, "WAIT_FOR_STREAM_S", 0.0)
    return str(request.param)


def replaced_body(response: httpx.Response, content: bytes) -> httpx.Response:
    """`response` with its body read and replaced by `content` (headers kept, but the
    length: the body is well-formed HTTP, just not the range asked for)."""
    response.read()
    response.close()
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-length"]
    return httpx.Response(response.status_code, headers=headers, content=content)


def no_leftovers(out: Path) -> None:
    assert not (out / BIG).exists()
    assert [p for p in out.rglob("*") if p.name.startswith(".runapi-")] == []


E = TypeVar("E", bound=BaseException)


def refused_download(
    user: User, tmp_path: Path, logged: runapi.Artifact, transport: RangeTransport, error: type[E]
) -> E:
    """Download `logged` through `transport`, which must fail with `error` (returned),
    leaving nothing behind."""
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    out = tmp_path / "out"
    with pytest.raises(error) as raised:
        again.download(root=out, max_workers=1)
    no_leftovers(out)
    return raised.value


def logged_big(user: User, tmp_path: Path, data: bytes) -> runapi.Artifact:
    api = make_api(user)
    run = new_run(api, user, project="ranges")
    source = tmp_path / "src"
    (source / "big").mkdir(parents=True)
    (source / BIG).write_bytes(data)
    (source / "small.txt").write_bytes(b"small")
    spec = runapi.ArtifactSpec(name="ds", type="dataset")
    spec.add_dir(source)
    return run.log_artifact(spec)


def test_a_big_file_comes_in_ranges_exactly(user: User, tmp_path: Path, streams: str) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    # with more streams, range 1 is held until range 2 is asked for (by another stream)
    hold = None if streams == "one stream" else ("bytes=100000-199999", "bytes=200000-299999")
    transport = RangeTransport(hold=hold)
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    root = again.download(root=tmp_path / "out")
    assert (root / BIG).read_bytes() == data and (root / "small.txt").read_bytes() == b"small"
    asked = [r for r in transport.ranges if r is not None]
    assert sorted(asked, key=lambda r: int(r[6:].split("-")[0])) == [
        "bytes=0-99999",
        "bytes=100000-199999",
        "bytes=200000-299999",
        "bytes=300000-300000",
    ]  # each once
    assert asked[0] == "bytes=0-99999"
    assert transport.ranges.count(None) == 2  # the manifest and the small file, whole
    if streams == "one stream":
        assert asked == sorted(asked, key=lambda r: int(r[6:].split("-")[0]))  # in order
        assert len(transport.threads) == 1
    else:
        assert transport.released_while_held and len(transport.threads) > 1


@pytest.mark.parametrize("where", [5, 150_000, 299_999, 300_000])
def test_a_corrupted_big_file_is_found_whatever_range_holds_it(
    user: User, tmp_path: Path, streams: str, where: int
) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    md5_hex = logged.manifest.entries[BIG].md5_hex
    (blob,) = (user.server.data_dir / "files" / "artifacts").glob(f"*-{md5_hex}")
    stored = bytearray(blob.read_bytes())
    stored[where] ^= 0xFF
    blob.write_bytes(bytes(stored))
    out = tmp_path / "out"
    with pytest.raises(runapi.ArtifactChecksumError) as raised:
        logged.download(root=out, max_workers=1)
    assert raised.value.name == BIG
    assert raised.value.actual_size == len(data)
    assert raised.value.actual_digest != raised.value.expected_digest
    no_leftovers(out)


def test_a_server_without_ranges_is_read_whole(user: User, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    transport = RangeTransport(rewrite=lambda _range: None)  # the Range header is dropped
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    root = again.download(root=tmp_path / "out")
    assert (root / BIG).read_bytes() == data
    assert len([r for r in transport.ranges if r is not None]) == 1  # only the first asked


@pytest.mark.parametrize("which", ["bytes=0-99999", "bytes=200000-299999"])
def test_a_server_ignoring_a_later_range_is_refused(
    user: User, tmp_path: Path, streams: str, which: str
) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    # the Range header of one range is dropped: the whole body comes back with a 200
    transport = RangeTransport(rewrite=lambda r: None if r == which else r)
    if which.startswith("bytes=0-"):  # the first answer decides: no ranges, one stream
        again = make_api(user, transport=transport).artifact(logged.qualified_name)
        assert (again.download(root=tmp_path / "out") / BIG).read_bytes() == data
        return
    error = refused_download(user, tmp_path, logged, transport, runapi.DownloadIntegrityError)
    assert "asked for bytes 200000-299999/300001, the server answered 200" in str(error)


def test_a_wrong_range_answer_is_refused(user: User, tmp_path: Path, streams: str) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    # every range but the first is asked for as bytes 0-9: the answer is not the range
    transport = RangeTransport(rewrite=lambda r: r if r.startswith("bytes=0-") else "bytes=0-9")
    error = refused_download(user, tmp_path, logged, transport, runapi.DownloadIntegrityError)
    assert "asked for bytes" in str(error)


@pytest.mark.parametrize("which", ["bytes=0-99999", "bytes=100000-199999", "bytes=300000-300000"])
def test_a_short_range_is_refused(user: User, tmp_path: Path, streams: str, which: str) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)

    def short(wanted: str, response: httpx.Response) -> httpx.Response:
        if wanted != which:
            return response
        return replaced_body(response, response.read()[:-1])  # one byte short

    transport = RangeTransport(body=short)
    error = refused_download(user, tmp_path, logged, transport, runapi.ArtifactChecksumError)
    assert error.actual_size == len(data) - 1


def test_a_range_longer_than_asked_is_refused(user: User, tmp_path: Path, streams: str) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)

    def long(wanted: str, response: httpx.Response) -> httpx.Response:
        if wanted != "bytes=100000-199999":
            return response
        return replaced_body(response, response.read() + b"x")

    transport = RangeTransport(body=long)
    error = refused_download(user, tmp_path, logged, transport, runapi.DownloadIntegrityError)
    assert "more bytes than range 100000-199999 holds" in str(error)


class BreaksMidway(httpx.SyncByteStream):
    """A body that gives its first `keep` bytes, then fails as a reset connection."""

    def __init__(self, response: httpx.Response, keep: int) -> None:
        self._response = response
        self._keep = keep

    def __iter__(self) -> Iterator[bytes]:
        body = self._response.read()
        self._response.close()
        yield body[: self._keep]
        raise httpx.ReadError("connection reset by peer")


@pytest.mark.parametrize("which", ["bytes=0-99999", "bytes=200000-299999"])
def test_an_error_mid_range_fails_the_download_and_leaves_nothing(
    user: User, tmp_path: Path, streams: str, which: str
) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)

    def broken(wanted: str, response: httpx.Response) -> httpx.Response:
        if wanted != which:
            return response
        stream = BreaksMidway(response, 50_000)
        return httpx.Response(response.status_code, headers=response.headers, stream=stream)

    transport = RangeTransport(body=broken)
    error = refused_download(user, tmp_path, logged, transport, runapi.APIConnectionError)
    assert "connection reset by peer" in str(error)
    if streams == "one stream":  # no range after the broken one was asked for
        assert [r for r in transport.ranges if r is not None][-1] == which
