"""Bad input of every kind: a GraphQL error (HTTP 200) or a 4xx for REST, never a 500, and
the database unchanged after every rejected write."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from conftest import User, load_operation
from hardening import db_digest
from server_gql import operation, upsert
from server_stream import PROJECT, create_run

DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _raw_bodies() -> list[bytes]:
    viewer = load_operation("get_viewer")

    def body(**fields: Any) -> bytes:
        return json.dumps(fields).encode()

    return [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b"42",
        b'"query"',
        b"{}",
        body(query=5),
        body(query=""),
        body(query=viewer, variables=[]),
        body(query=viewer, variables="x"),
        body(query=viewer, operationName=7),
        body(query=viewer, operationName="Nope"),
        body(query=operation("bad_unknown_field")),
        body(query=operation("bad_syntax")),
        body(query=operation("bad_subscription")),
        body(query=operation("bad_two_operations")),
        b'{"query": "\\ud800"}',
        body(query="{" * 50_000),
        body(query="{a " * 3000),
        DEEP_JSON.encode(),
        body(query=viewer)[:-1] + b', "variables": ' + DEEP_JSON.encode() + b"}",
    ]


def test_malformed_graphql_bodies_are_never_5xx(user: User) -> None:
    before = db_digest(user.server.data_dir)
    with user.http() as client:
        for body in _raw_bodies():
            response = client.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code in (200, 400, 413), (body[:80], response.text[:300])
            payload = response.json()
            assert payload["errors"] and payload["errors"][0]["message"], body[:80]
    assert db_digest(user.server.data_dir) == before


def _run_input(user: User, **fields: Any) -> dict[str, Any]:
    return {"entityName": user.entity, "modelName": PROJECT, "name": "badinput", **fields}


BAD_UPSERTS: list[dict[str, Any]] = [
    {"config": "not json"},
    {"config": "[1, 2]"},
    {"config": "{" * 5000 + "}" * 5000},
    {"config": '{"a": ' + "1" * 5000 + "}"},
    {"summaryMetrics": "[]"},
    {"summaryMetrics": '"text"'},
    {"state": "exploded"},
    {"tags": [None]},
    {"name": "a/b"},
    {"name": "x" * 200},
    {"name": ""},
    {"name": "nul\u0000byte"},
    {"modelName": "../p"},
    {"entityName": "someone-else"},
    {"id": "not base64 at all"},
    {"id": "UnVuOnYxOg=="},
    {"notes": 5},
    {"notes": "\ud800"},
    {"clientMutationId": "\ud800", "state": "exploded"},
    {"displayName": ["list"]},
    {"unknownField": 1},
]


@pytest.mark.parametrize("fields", BAD_UPSERTS, ids=lambda f: json.dumps(f)[:40])
def test_bad_upserts_are_graphql_errors_and_write_nothing(
    user: User, fields: dict[str, Any]
) -> None:
    with user.http() as client:
        upsert(client, **_run_input(user, notes="kept"))
        before = db_digest(user.server.data_dir)
        body = {
            "query": load_operation("upsert_run"),
            "variables": {"input": _run_input(user, **fields)},
        }
        # json.dumps escapes lone surrogates ("\\ud800"), which httpx's json= cannot encode.
        response = client.post(
            "/graphql", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["errors"], response.text
    assert db_digest(user.server.data_dir) == before


BAD_ARTIFACTS: list[dict[str, Any]] = [
    {"artifactCollectionNames": []},
    {"artifactCollectionNames": ["a", "b"]},
    {"artifactCollectionNames": ["bad/name"]},
    {"digest": ""},
    {"artifactTypeName": ""},
    {"metadata": "[]"},
    {"metadata": "{"},
    {"ttlDurationSeconds": -5},
    {"historyStep": 1e30},
    {"historyStep": "x"},
    {"aliases": [{"artifactCollectionName": "other", "alias": "best"}]},
    {"aliases": [{"artifactCollectionName": "data", "alias": "v3"}]},
    {"aliases": [{"artifactCollectionName": "data", "alias": "a/b"}]},
    {"runName": "no-such-run"},
    {"projectName": "bad/project"},
]


@pytest.mark.parametrize("fields", BAD_ARTIFACTS, ids=lambda f: json.dumps(f)[:40])
def test_bad_create_artifact_writes_nothing(user: User, fields: dict[str, Any]) -> None:
    run = create_run(user)
    value = {
        "entityName": user.entity,
        "projectName": PROJECT,
        "runName": run,
        "artifactTypeName": "dataset",
        "artifactCollectionNames": ["data"],
        "digestAlgorithm": "MANIFEST_MD5",
        "digest": "d1",
        **fields,
    }
    before = db_digest(user.server.data_dir)
    with user.http() as client:
        response = client.post(
            "/graphql",
            json={"query": load_operation("create_artifact"), "variables": {"input": value}},
        )
    assert response.status_code == 200, response.text
    assert response.json()["errors"], response.text
    assert db_digest(user.server.data_dir) == before


BAD_STREAMS: list[bytes] = [
    b"[" * 100_000,
    DEEP_JSON.encode(),
    b'{"files": {"wandb-history.jsonl": {"offset": 0, "content": ["\\ud800"]}}}',
    b'{"files": {"out\\ud800.log": {"offset": 0, "content": ["x"]}}}',
    b'{"files": {"output.log": {"offset": 0, "content": ["\\ud800"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": 1e3, "content": ["{}"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": NaN, "content": ["{}"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": 99999999999999999999999, "content": ["{}"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\\"_step\\": 1e400}"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{\\"_step\\": '
    + b"9" * 30
    + b'}"]}}}',
    b'{"files": {"wandb-history.jsonl": {"offset": 0, "content": ["' + b"[" * 5000 + b'"]}}}',
    b'{"files": {"wandb-summary.json": {"offset": 0, "content": ["[]"]}}}',
    b'{"files": {"wandb-events.jsonl": {"offset": 0, "content": ["nope"]}}}',
    b'{"files": {}, "complete": "yes"}',
    b'{"files": {}, "complete": true, "exitcode": 1.5}',
    b'{"files": {}, "dropped": -1}',
]


def test_malformed_file_stream_posts_are_4xx_and_write_nothing(user: User) -> None:
    run = create_run(user)
    url = f"{user.server.url}/files/{user.entity}/{PROJECT}/{run}/file_stream"
    before = db_digest(user.server.data_dir)
    for body in BAD_STREAMS:
        response = httpx.post(url, content=body, auth=user.auth, timeout=30)
        assert response.status_code == 400, (body[:90], response.text[:300])
        assert response.json()["errors"][0]["message"]
    assert db_digest(user.server.data_dir) == before


def test_bad_input_is_logged_without_traceback(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="runapi_server"), user.http() as client:
        response = client.post(
            "/graphql",
            json={
                "query": load_operation("upsert_run"),
                "variables": {"input": _run_input(user, state="exploded")},
            },
        )
        client.post("/graphql", json={"query": operation("bad_unknown_field")})
    assert response.json()["errors"]
    records = [r for r in caplog.records if r.name == "runapi_server"]
    assert any("invalid run state" in r.getMessage() for r in records)
    assert all(r.exc_info is None and r.levelno <= logging.INFO for r in records)
