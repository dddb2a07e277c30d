"""Signed URLs and file names, beyond tests/test_server_files.py: a signature is bound to
one method, one file and one run; unsafe names are refused on every path that takes a
name, and nothing is ever written outside the data dir."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from conftest import User
from hardening import db_digest
from server_stream import create_run, stream
from test_server_files import create_files, grant_of, names, nodes, secret, upload

from runapi_server import signing

BAD_NAMES = ["../escape.txt", "a/../../escape.txt", "/abs/escape.txt", "a\\..\\escape.txt",
             "a\x00b.txt", "", "./a.txt", "a//b.txt", "a\nb.txt", "tab\there.txt", "cr\r.txt",
             "del\x7f.txt", "nel\x85.txt", "ls\u2028.txt"]  # fmt: skip


def _outside_files(data_dir: Path) -> set[str]:
    """Every file under the data dir's parent that is not inside the data dir."""
    root = data_dir.parent
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.is_relative_to(data_dir)
    }


def test_upload_signature_is_bound_to_its_run(user: User) -> None:
    run_a, run_b = create_run(user), create_run(user)
    url_a = create_files(user, run_a, ["same.txt"])["files"][0]["uploadUrl"]
    create_files(user, run_b, ["same.txt"])
    reused = url_a.replace(f"/{run_a}/", f"/{run_b}/")
    response = httpx.put(reused, content=b"x", timeout=10)
    assert response.status_code == 403
    assert "invalid signature" in response.json()["errors"][0]["message"]
    assert names(user, run_b) == []


def test_signature_is_bound_to_its_method(user: User) -> None:
    run = create_run(user)
    upload(user, run, "a.txt", b"aaa")
    (node,) = nodes(user, run)
    # Other HTTP methods on both URL shapes: not routed.
    assert httpx.get(node["uploadUrl"], timeout=10).status_code == 405
    assert httpx.post(node["uploadUrl"], content=b"x", timeout=10).status_code == 405
    assert httpx.delete(node["directUrl"], timeout=10).status_code == 405
    assert httpx.put(node["directUrl"], content=b"x", timeout=10).status_code == 405
    # The download (GET) signature on the upload path: refused.
    get_query = urlsplit(node["directUrl"]).query
    as_upload = node["uploadUrl"].split("?")[0] + "?" + get_query
    assert httpx.put(as_upload, content=b"overwritten", timeout=10).status_code == 403
    assert httpx.get(node["directUrl"], timeout=10).content == b"aaa"


@pytest.mark.parametrize(
    "expires", ["soon", "", "1e10", "-1", "9" * 5000, str(int(time.time()) - 1)]
)
def test_bad_or_expired_expiry_is_refused(user: User, expires: str) -> None:
    run = create_run(user)
    url = create_files(user, run, ["a.txt"])["files"][0]["uploadUrl"]
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    bad = url.split("?")[0] + f"?expires={quote(expires)}&signature={sig}"
    assert httpx.put(bad, content=b"x", timeout=10).status_code == 403
    assert names(user, run) == []


def test_signatures_from_another_secret_are_refused(user: User) -> None:
    run = create_run(user)
    grant = grant_of(create_files(user, run, ["a.txt"])["files"][0]["uploadUrl"])
    forged = signing.upload_url(b"not the server secret", user.server.url, grant, "a.txt")
    assert httpx.put(forged, content=b"x", timeout=10).status_code == 403
    assert names(user, run) == []


@pytest.mark.parametrize("name", BAD_NAMES)
def test_file_stream_refuses_unsafe_names(user: User, name: str) -> None:
    run = create_run(user)
    before = db_digest(user.server.data_dir)
    response = stream(user, run, {name: (0, ["line"])})
    assert response.status_code == 400
    assert "file name" in response.json()["errors"][0]["message"]
    assert db_digest(user.server.data_dir) == before


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if n])
def test_signed_uploads_with_unsafe_names_write_nothing(user: User, name: str) -> None:
    run = create_run(user)
    grant = grant_of(create_files(user, run, ["ok.txt"])["files"][0]["uploadUrl"])
    outside = _outside_files(user.server.data_dir)
    before = db_digest(user.server.data_dir)
    # Signed with the real secret: only the name check stands between it and the disk.
    url = signing.upload_url(secret(user), user.server.url, grant, name)
    response = httpx.put(url, content=b"escaped", timeout=10)
    assert response.status_code in (400, 403, 404)
    assert db_digest(user.server.data_dir) == before
    assert _outside_files(user.server.data_dir) == outside


@pytest.mark.parametrize("raw", ["%2e%2e/%2e%2e/escape.txt", "..%2fescape.txt", "a%00b", "a%5cb"])
def test_encoded_traversal_in_urls(user: User, raw: str) -> None:
    run = create_run(user)
    upload(user, run, "a.txt", b"aaa")
    (node,) = nodes(user, run)
    outside = _outside_files(user.server.data_dir)
    base, query = node["uploadUrl"].split("?")
    prefix = base.rsplit("/", 1)[0]
    with httpx.Client(timeout=10) as client:
        put = client.put(httpx.URL(f"{prefix}/{raw}?{query}"), content=b"escaped")
        assert put.status_code in (400, 403, 404)
        download = node["url"].rsplit("/", 1)[0] + "/" + raw
        with user.http() as authed:
            assert authed.get(httpx.URL(download)).status_code in (400, 404)
    assert _outside_files(user.server.data_dir) == outside
