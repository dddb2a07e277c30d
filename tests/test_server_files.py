"""Run files over real HTTP: createRunFiles, signed uploads, downloads, listing."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from conftest import User
from databases import read, use_test_database
from server_stream import PROJECT, create_run, gql, gql_errors, run_field, run_vars, stream

from runapi_server import signing
from runapi_server.state import SECRET_FILE


def create_files(user: User, run: str, names: list[str]) -> dict[str, Any]:
    variables = {
        "input": {"entityName": user.entity, "projectName": PROJECT, "runName": run, "files": names}
    }
    result: dict[str, Any] = gql(user, "create_run_files", variables)["createRunFiles"]
    return result


def put(url: str, data: bytes, headers: list[str] | None = None) -> httpx.Response:
    header_map = dict(h.split(":", 1) for h in headers or [])
    return httpx.put(url, content=data, headers=header_map, timeout=30.0)


def upload(user: User, run: str, name: str, data: bytes) -> None:
    payload = create_files(user, run, [name])
    response = put(payload["files"][0]["uploadUrl"], data, payload["uploadHeaders"])
    assert response.status_code == 200, response.text


def listing(user: User, run: str, **args: Any) -> dict[str, Any]:
    result: dict[str, Any] = gql(user, "list_run_files_page", run_vars(user, run, **args))[
        "project"
    ]["run"]
    return result


def nodes(user: User, run: str, **args: Any) -> list[dict[str, Any]]:
    return [edge["node"] for edge in listing(user, run, **args)["files"]["edges"]]


def names(user: User, run: str, **args: Any) -> list[str]:
    return [node["name"] for node in nodes(user, run, **args)]


def secret(user: User) -> bytes:
    return (user.server.data_dir / SECRET_FILE).read_bytes()


def grant_of(url: str) -> signing.RunGrant:
    """The run grant a signed ``/storage/...`` URL names (path and ``grant`` parameter)."""
    parts = urlsplit(url)
    entity, project, run = (unquote(p) for p in parts.path.split("/")[3:6])
    return signing.RunGrant(entity, project, run, parse_qs(parts.query)["grant"][0])


def run_db_id_of(user: User, run: str, project: str = PROJECT) -> int:
    row = (
        read(user.server.data_dir)
        .execute(
            "SELECT runs.id FROM runs JOIN projects ON projects.id = runs.project_id"
            " WHERE projects.entity = ? AND projects.name = ? AND runs.name = ?",
            (user.entity, project, run),
        )
        .one()
    )
    run_id: int = row[0]
    return run_id


def test_upload_then_download_with_auth_and_direct_url(user: User) -> None:
    run = create_run(user)
    data = b"\x00binary\xffpayload" * 1000
    payload = create_files(user, run, ["model/weights.bin"])
    assert (
        payload["runID"]
        == base64.b64encode(f"Run:v1:{run}:{PROJECT}:{user.entity}".encode()).decode()
    )
    assert payload["uploadHeaders"] == ["Content-Type:application/octet-stream"]
    url = payload["files"][0]["uploadUrl"]
    assert url.startswith(user.server.url + "/storage/upload/")
    assert names(user, run) == []  # pending uploads are not listed
    assert put(url, data, payload["uploadHeaders"]).status_code == 200
    (node,) = nodes(user, run)
    assert node["name"] == "model/weights.bin"
    assert node["sizeBytes"] == len(data)
    assert node["md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert node["mimetype"] == "application/octet-stream"
    assert node["updatedAt"]
    assert (
        node["url"]
        == f"{user.server.url}/storage/files/{user.entity}/{PROJECT}/{run}/model/weights.bin"
    )
    assert httpx.get(node["url"]).status_code == 401
    with user.http() as client:
        assert client.get(node["url"]).content == data
    direct = httpx.get(node["directUrl"])
    assert direct.status_code == 200 and direct.content == data


def test_reupload_replaces_content_and_old_blob(user: User) -> None:
    run = create_run(user)
    upload(user, run, "notes.txt", b"first")
    upload(user, run, "notes.txt", b"second version")
    (node,) = nodes(user, run)
    assert node["sizeBytes"] == len(b"second version")
    assert node["mimetype"] == "text/plain"
    assert httpx.get(node["directUrl"]).content == b"second version"
    run_dir = user.server.data_dir / "files" / str(run_db_id_of(user, run))
    assert len([p for p in run_dir.iterdir() if p.is_file()]) == 1


def test_upload_url_from_files_listing(user: User) -> None:
    run = create_run(user)
    upload(user, run, "a.json", b"{}")
    (node,) = nodes(user, run)
    assert put(node["uploadUrlLegacy"], b'{"x": 1}').status_code == 200
    assert httpx.get(node["directUrl"]).content == b'{"x": 1}'


def test_tampered_expired_and_other_file_signatures_are_refused(user: User) -> None:
    run = create_run(user)
    payload = create_files(user, run, ["a.txt", "b.txt"])
    url_a, url_b = (f["uploadUrl"] for f in payload["files"])
    parts = urlsplit(url_a)
    sig = parse_qs(parts.query)["signature"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    tampered = url_a.replace(sig, flipped)
    response = put(tampered, b"x")
    assert response.status_code == 403
    assert "invalid signature" in response.json()["errors"][0]["message"]
    other_file = url_b.split("?")[0] + "?" + parts.query  # a.txt's signature on b.txt
    assert put(other_file, b"x").status_code == 403
    later = url_a.replace("expires=", "expires=9")  # extending the expiry breaks the signature
    assert put(later, b"x").status_code == 403
    unsigned = url_a.split("?")[0]
    assert put(unsigned, b"x").status_code == 403
    expired = signing.upload_url(
        secret(user), user.server.url, grant_of(url_a), "a.txt", expires=int(time.time()) - 5
    )
    response = put(expired, b"x")
    assert response.status_code == 403
    assert "expired" in response.json()["errors"][0]["message"]
    assert names(user, run) == []


def test_direct_url_signatures_are_checked(user: User) -> None:
    run = create_run(user)
    upload(user, run, "a.txt", b"aaa")
    upload(user, run, "b.txt", b"bbb")
    node_a, node_b = nodes(user, run)
    query_a = urlsplit(node_a["directUrl"]).query
    other_file = node_b["url"] + "?" + query_a
    assert httpx.get(other_file).status_code == 403
    sig = parse_qs(query_a)["signature"][0]
    assert httpx.get(node_a["directUrl"].replace(sig, sig[::-1])).status_code == 403
    expired = signing.direct_url(
        secret(user), user.server.url, grant_of(node_a["uploadUrl"]), "a.txt",
        expires=int(time.time()) - 1,
    )  # fmt: skip
    assert httpx.get(expired).status_code == 403
    upload_sig_as_download = node_a["url"] + "?" + urlsplit(node_a["uploadUrl"]).query
    assert httpx.get(upload_sig_as_download).status_code == 403


@pytest.mark.parametrize(
    "name", ["../escape.txt", "a/../../b", "/etc/passwd", "a\\b", "a\x00b", ""]
)
def test_traversal_names_are_rejected(user: User, name: str) -> None:
    run = create_run(user)
    variables = {
        "input": {
            "entityName": user.entity,
            "projectName": PROJECT,
            "runName": run,
            "files": [name],
        }
    }
    errors = gql_errors(user, "create_run_files", variables)
    assert errors and "file name" in errors[0]


def test_signed_traversal_path_cannot_escape(user: User) -> None:
    run = create_run(user)
    grant = grant_of(create_files(user, run, ["ok.txt"])["files"][0]["uploadUrl"])
    evil = signing.upload_url(secret(user), user.server.url, grant, "x/../../../../evil")
    response = httpx.put(evil, content=b"x")
    assert response.status_code in (400, 403, 404)
    assert not (user.server.data_dir.parent / "evil").exists()


def test_other_users_run_and_files(user: User, other_user: User) -> None:
    run = create_run(user)
    upload(user, run, "secret.txt", b"mine")
    variables = {
        "input": {"entityName": user.entity, "projectName": PROJECT, "runName": run, "files": ["x"]}
    }
    errors = gql_errors(other_user, "create_run_files", variables)
    assert errors and "not found" in errors[0]
    (node,) = nodes(user, run)
    with other_user.http() as client:
        assert client.get(node["url"]).status_code == 404
    missing = node["url"].replace("secret.txt", "nothing.txt")
    with user.http() as client:
        assert client.get(missing).status_code == 404


def test_names_pattern_pagination_and_file_count(user: User) -> None:
    run = create_run(user)
    for name in ["b.json", "a.txt", "c.json", "d.log"]:
        upload(user, run, name, name.encode())
    stream(user, run, {"output.log": (0, ["line"])})
    assert listing(user, run)["fileCount"] == 5
    assert names(user, run) == ["a.txt", "b.json", "c.json", "d.log", "output.log"]
    assert names(user, run, names=["c.json", "a.txt", "zzz"]) == ["a.txt", "c.json"]
    assert names(user, run, names=[]) == names(user, run)  # empty: every file, like W&B
    assert names(user, run, pattern="%.json") == ["b.json", "c.json"]
    assert names(user, run, pattern="%.log") == ["d.log", "output.log"]
    seen: list[str] = []
    after = None
    while True:
        page = listing(user, run, first=2, after=after)["files"]
        seen += [edge["node"]["name"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["a.txt", "b.json", "c.json", "d.log", "output.log"]
    tail = listing(user, run, last=2)["files"]
    assert [edge["node"]["name"] for edge in tail["edges"]] == ["d.log", "output.log"]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    before = listing(user, run, last=2, before=tail["pageInfo"]["startCursor"])["files"]
    assert [edge["node"]["name"] for edge in before["edges"]] == ["b.json", "c.json"]
    assert listing(user, run)["files"]["uploadHeaders"] == []


def test_pattern_is_sqlite_like_with_pages(user: User) -> None:
    # W&B's `pattern` is SQL LIKE as SQLite reads it: `%` any run, `_` one character, no
    # escape, ASCII letters in either case and other characters exactly.
    run = create_run(user)
    accented = ["\u00c9t\u00e9.txt", "\u00e9t\u00e9.txt"]
    for name in ["Ab%c.TXT", "abxc.txt", "ab.txt", *accented, "z.md"]:
        upload(user, run, name, b"x")
    assert names(user, run, pattern="ab%c.txt") == ["Ab%c.TXT", "abxc.txt"]
    assert names(user, run, pattern="AB_.TXT") == []
    assert names(user, run, pattern="ab__c.txt") == []
    assert names(user, run, pattern="\u00e9%") == ["\u00e9t\u00e9.txt"]
    assert names(user, run, pattern="_t\u00c9%") == []
    assert names(user, run, pattern="%%.txt%") == names(user, run, pattern="%.txt")
    assert names(user, run, pattern="%") == names(user, run)
    # The limit counts matching files only, from either end.
    page = listing(user, run, pattern="%.txt", first=2)["files"]
    assert [edge["node"]["name"] for edge in page["edges"]] == ["Ab%c.TXT", "ab.txt"]
    assert page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    rest = listing(user, run, pattern="%.txt", first=5, after=after)["files"]
    assert [edge["node"]["name"] for edge in rest["edges"]] == [
        "abxc.txt", "\u00c9t\u00e9.txt", "\u00e9t\u00e9.txt",
    ]  # fmt: skip
    assert rest["pageInfo"]["hasNextPage"] is False
    tail = listing(user, run, pattern="a%", last=1)["files"]
    assert [edge["node"]["name"] for edge in tail["edges"]] == ["abxc.txt"]
    assert tail["pageInfo"]["hasPreviousPage"] is True


def test_bad_cursor_and_negative_first_are_errors(user: User) -> None:
    run = create_run(user)
    errors = gql_errors(user, "list_run_files_page", run_vars(user, run, after="garbage"))
    assert errors and "invalid 'after' cursor" in errors[0]
    errors = gql_errors(user, "list_run_files_page", run_vars(user, run, first=-1))
    assert errors and "must not be negative" in errors[0]


def test_streamed_file_md5_and_direct_url(user: User) -> None:
    run = create_run(user)
    stream(user, run, {"logs/train.log": (0, ["a", "b"])})
    (node,) = nodes(user, run)
    assert node["md5"] == base64.b64encode(hashlib.md5(b"a\nb").digest()).decode()
    assert httpx.get(node["directUrl"]).content == b"a\nb"
    assert run_field(user, "get_run_stream_stats", run, "fileCount") == 1


def test_server_start_removes_partial_uploads_of_a_killed_server(tmp_path: Path) -> None:
    from runapi_server.app import create_app
    from runapi_server.storage_routes import PARTIAL_UPLOAD_IDLE_S

    run_dir = tmp_path / "files" / "7"
    run_dir.mkdir(parents=True)
    stale, fresh, blob = run_dir / ".aa.tmp", run_dir / ".bb.tmp", run_dir / "cc"
    stalled = run_dir / ".dd.tmp"
    for path in (stale, fresh, blob, stalled):
        path.write_bytes(b"x")
    old = time.time() - PARTIAL_UPLOAD_IDLE_S - 60
    os.utime(stale, (old, old))
    os.utime(blob, (old, old))
    minutes_ago = time.time() - 600
    os.utime(stalled, (minutes_ago, minutes_ago))
    create_app(use_test_database(tmp_path))
    assert not stale.exists()  # left by a killed upload
    assert fresh.exists()  # may be an upload in flight in another process
    assert stalled.exists()  # another process's upload whose client paused for minutes
    assert blob.exists()  # a stored file
