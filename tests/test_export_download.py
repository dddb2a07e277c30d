"""History export parts are downloaded into buffers of arrow's memory pool when the
response says its length; an encoded body, or one without a length, is read as bytes;
a body that does not have the bytes its length says is an error, never a short part."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import httpx
import pytest
from conftest import User
from history_exports import same_frames, tricky_rows
from seeding import close_apis, finish, log_history, make_api, new_run

import runapi
import runapi._history

__all__ = ["close_apis"]


@pytest.fixture(autouse=True)
def rows_from_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small runs' scans are read over GraphQL (`SMALL_SCAN_VALUES`); these tests are
    about the exports' downloads."""
    monkeypatch.setattr(runapi._history, "SMALL_SCAN_VALUES", 0)


class ExportBodies(httpx.BaseTransport):
    """The real transport; each export download's body and headers are given to
    `reshape` (body, headers) -> (body, headers) before the client sees them."""

    def __init__(self, reshape: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]):
        self._inner = httpx.HTTPTransport()
        self._reshape = reshape
        self.exports = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if "/history/" not in request.url.path:
            return response
        self.exports += 1
        body = response.read()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        body, headers = self._reshape(body, headers)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


def gzipped(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    packed = gzip.compress(body)
    return packed, {**headers, "Content-Encoding": "gzip", "Content-Length": str(len(packed))}


def no_length(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, headers


def cut_short(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body[:-100], {**headers, "Content-Length": str(len(body))}


def exact(rows: list[dict[str, object]]) -> list[str]:
    """Rows as JSON text (NaN kept, ints stay ints), to compare values exactly."""
    return [json.dumps(row, sort_keys=True) for row in rows]


def logged_run(user: User) -> tuple[runapi.Run, list[dict[str, object]]]:
    api = make_api(user)
    run = new_run(api, user, project="downloads")
    rows = tricky_rows(300)
    log_history(user, run, rows, chunk=100)
    finish(user, run)
    return run, rows


@pytest.mark.parametrize("reshape", [gzipped, no_length], ids=["gzip", "no-length"])
def test_an_encoded_or_unsized_export_reads_the_same(
    user: User, reshape: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]
) -> None:
    run, _ = logged_run(user)
    expected = run.scan_history().to_pandas()
    expected_rows = list(run.scan_history())
    transport = ExportBodies(reshape)
    api = make_api(user, transport=transport)
    read = api.run("/".join(run.path)).scan_history()
    frame = read.to_pandas()
    rows = list(read)
    assert transport.exports == 2  # the frame's part and the rows' part
    same_frames(frame, expected)
    assert len(rows) == 300 and exact(rows) == exact(expected_rows)


def test_an_export_shorter_than_its_length_is_an_error(user: User) -> None:
    run, _ = logged_run(user)
    api = make_api(user, transport=ExportBodies(cut_short))
    scan = api.run("/".join(run.path)).scan_history()
    with pytest.raises(runapi.ResponseValidationError, match="does not have its"):
        scan.to_pandas()
    with pytest.raises(runapi.ResponseValidationError, match="does not have its"):
        list(scan)
