"""Signed URLs name what they grant (entity, project, run and the run's random key), so a
deleted run's URLs are dead, even when SQLite hands its database id or its name to a new
run; bad signatures are refused alike whatever they hold and whether or not the run exists.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import User
from databases import ON_POSTGRES
from server_stream import PROJECT, create_run, gql
from test_server_files import create_files, nodes, run_db_id_of, upload

GHOST = "ghostentity"


def delete_run(user: User, run: str) -> None:
    storage = base64.b64encode(f"Run:v1:{run}:{PROJECT}:{user.entity}".encode()).decode()
    gql(user, "delete_run", {"input": {"id": storage}})


def upsert(user: User, run: str) -> None:
    variables = {"input": {"entityName": user.entity, "modelName": PROJECT, "name": run}}
    gql(user, "upsert_run", variables)


def page_token(user: User, run: str) -> str:
    with user.http() as client:
        response = client.post(
            "/pages/token", json={"entity": user.entity, "project": PROJECT, "run": run}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def test_a_deleted_runs_urls_do_not_reach_the_next_run_with_its_id(
    user: User, other_user: User
) -> None:
    a, b = user, other_user
    run_a = create_run(a)
    upload(a, run_a, "notes.txt", b"a's notes")
    (node,) = nodes(a, run_a)
    stale_download = node["directUrl"]
    stale_upload = create_files(a, run_a, ["notes.txt"])["files"][0]["uploadUrl"]
    old_id = run_db_id_of(a, run_a)
    delete_run(a, run_a)
    # B's next run takes the freed database id on SQLite (it reuses the highest rowid);
    # PostgreSQL's identity columns never hand out an id twice.
    run_b = create_run(b)
    if ON_POSTGRES:
        assert run_db_id_of(b, run_b) > old_id
    else:
        assert run_db_id_of(b, run_b) == old_id
    upload(b, run_b, "notes.txt", b"b's private notes")
    # A's upload URL does not write into B's run, A's download URL does not read B's file.
    put = httpx.put(stale_upload, content=b"planted by a", timeout=10)
    assert put.status_code == 403
    assert put.json()["errors"][0]["message"] == (
        "this signed URL is no longer valid: its run was deleted"
    )
    got = httpx.get(stale_download, timeout=10)
    assert got.status_code == 403
    assert b"private" not in got.content
    (b_node,) = nodes(b, run_b)
    assert httpx.get(b_node["directUrl"], timeout=10).content == b"b's private notes"


def test_urls_and_page_tokens_die_with_the_run_even_if_its_name_comes_back(user: User) -> None:
    run = create_run(user)
    upload(user, run, "notes.txt", b"first life")
    (node,) = nodes(user, run)
    old_download = node["directUrl"]
    old_upload = create_files(user, run, ["notes.txt"])["files"][0]["uploadUrl"]
    old_token = page_token(user, run)
    page = f"{user.server.url}/{user.entity}/{PROJECT}/runs/{run}"
    assert httpx.get(page, params={"token": old_token}, timeout=10).status_code == 200
    delete_run(user, run)
    upsert(user, run)  # the same name, a new run
    upload(user, run, "notes.txt", b"second life")
    assert httpx.get(old_download, timeout=10).status_code == 403
    assert httpx.put(old_upload, content=b"stale", timeout=10).status_code == 403
    assert httpx.get(page, params={"token": old_token}, timeout=10).status_code == 404
    (fresh,) = nodes(user, run)
    assert httpx.get(fresh["directUrl"], timeout=10).content == b"second life"
    assert httpx.get(page, params={"token": page_token(user, run)}, timeout=10).status_code == 200


@pytest.mark.parametrize("signature", ["é" * 64, "\u00ff", "ü", "0" * 63 + "\u0660"])
def test_non_ascii_signatures_are_403(user: User, signature: str) -> None:
    run = create_run(user)
    upload(user, run, "a.txt", b"a")
    (node,) = nodes(user, run)
    upload_url = create_files(user, run, ["a.txt"])["files"][0]["uploadUrl"]
    for method, url in (("GET", node["directUrl"]), ("PUT", upload_url)):
        parts = urlsplit(url)
        query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
        query["signature"] = signature
        base = url.split("?")[0]
        response = httpx.request(method, base, params=query, content=b"x", timeout=10)
        assert response.status_code == 403, (method, response.text)
        assert "invalid signature" in response.json()["errors"][0]["message"]


def test_a_bad_signature_is_refused_alike_whether_or_not_the_run_exists(user: User) -> None:
    run = create_run(user)
    upload(user, run, "a.txt", b"a")
    (node,) = nodes(user, run)
    tampered = node["directUrl"].replace("signature=", "signature=f")
    ghost = tampered.replace(f"/{user.entity}/", f"/{GHOST}/")
    missing_run = tampered.replace(f"/{run}/", "/norun/")
    answers = [httpx.get(url, timeout=10) for url in (tampered, ghost, missing_run)]
    assert [r.status_code for r in answers] == [403, 403, 403]
    assert answers[0].text == answers[1].text == answers[2].text
