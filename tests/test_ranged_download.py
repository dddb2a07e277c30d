"""Big downloads come as byte ranges fetched at once (`_rest.RANGED_MIN_BYTES`, lowered
here), written at their offsets and checked as one file: exact bytes, corruption found,
a server without ranges read whole, a wrong range answer refused."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi
from runapi import _rest

__all__ = ["close_apis"]

BIG = "big/data.bin"


class RangeTransport(httpx.BaseTransport):
    """The real transport; records the Range header of each GET and lets a test rewrite
    it (fault injection) before the request is sent."""

    def __init__(self, rewrite: Callable[[str], str | None] | None = None) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.ranges: list[str | None] = []
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and not request.url.path.endswith("/graphql"):
            wanted = request.headers.get("range")
            with self._lock:
                self.ranges.append(wanted)
            if wanted is not None and self.rewrite is not None:
                new = self.rewrite(wanted)
                if new is None:
                    del request.headers["range"]
                else:
                    request.headers["range"] = new
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rest, "RANGED_MIN_BYTES", 100_000)


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


def test_a_big_file_comes_in_ranges_exactly(user: User, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    transport = RangeTransport()
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    root = again.download(root=tmp_path / "out")
    assert (root / BIG).read_bytes() == data and (root / "small.txt").read_bytes() == b"small"
    step = -(-len(data) // _rest.RANGED_PARTS)
    expected = {
        f"bytes={start}-{min(start + step, len(data)) - 1}" for start in range(0, len(data), step)
    }
    assert {r for r in transport.ranges if r is not None} == expected
    assert transport.ranges.count(None) == 2  # the manifest and the small file, whole


def test_a_corrupted_big_file_is_found_whatever_range_holds_it(user: User, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    md5_hex = logged.manifest.entries[BIG].md5_hex
    (blob,) = (user.server.data_dir / "files" / "artifacts").glob(f"*-{md5_hex}")
    stored = bytearray(blob.read_bytes())
    stored[250_000] ^= 0xFF  # in the last range, hashed from the file
    blob.write_bytes(bytes(stored))
    out = tmp_path / "out"
    with pytest.raises(runapi.ArtifactChecksumError) as raised:
        logged.download(root=out, max_workers=1)
    assert raised.value.name == BIG
    assert not (out / BIG).exists()
    assert [p for p in out.rglob("*") if p.name.startswith(".runapi-")] == []


def test_a_server_without_ranges_is_read_whole(user: User, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    transport = RangeTransport(rewrite=lambda _range: None)  # the Range header is dropped
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    root = again.download(root=tmp_path / "out")
    assert (root / BIG).read_bytes() == data
    assert len([r for r in transport.ranges if r is not None]) == 1  # only the first asked


def test_a_wrong_range_answer_is_refused(user: User, tmp_path: Path) -> None:
    data = os.urandom(300_001)
    logged = logged_big(user, tmp_path, data)
    # every range but the first is asked for as bytes 0-9: the answer is not the range
    transport = RangeTransport(rewrite=lambda r: r if r.startswith("bytes=0-") else "bytes=0-9")
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    out = tmp_path / "out"
    with pytest.raises(runapi.DownloadIntegrityError) as raised:
        again.download(root=out, max_workers=1)
    assert "asked for bytes" in str(raised.value)
    assert not (out / BIG).exists()
    assert [p for p in out.rglob("*") if p.name.startswith(".runapi-")] == []
