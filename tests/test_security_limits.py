"""Limits: every one gives a clear error (GraphQL error at HTTP 200, or 413/400 for REST),
nothing is written, and requests inside the limits work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import QUERIES, Server, User, load_operation
from graphql import get_introspection_query
from hardening import db_digest, graphql, run_server
from server_gql import operation, upsert
from server_stream import PROJECT

from runapi_server.limits import Limits

SMALL = Limits(
    max_page_size=5,
    max_query_depth=12,
    max_query_fields=300,
    max_query_tokens=150,
    max_graphql_bytes=20_000,
    max_stream_bytes=10_000,
    max_upload_bytes=1_000,
    max_row_bytes=200,
    max_sampled_specs=2,
)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("limits-data"), SMALL) as server:
        yield server


@pytest.fixture
def small_user(small_server: Server) -> User:
    name = f"lim{len(list(small_server.data_dir.glob('*')))}x{id(object())}"
    return User(name=name, api_key=small_server.create_user(name), server=small_server)


@pytest.fixture
def small_run(small_user: User) -> str:
    with small_user.http() as client:
        upsert(client, entityName=small_user.entity, modelName=PROJECT, name="r")
    return "r"


def _errors(body: dict[str, object]) -> str:
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    return " | ".join(str(e["message"]) for e in errors)


# --------------------------------------------------------------------------- configuration


def test_defaults_are_sane_and_bad_limits_are_refused() -> None:
    limits = Limits()
    assert limits.max_page_size >= 1000
    assert limits.max_row_bytes >= 10 * 1024 * 1024 - 100 * 1024  # the W&B SDK's line cap
    with pytest.raises(ValueError, match="max_page_size"):
        Limits(max_page_size=0)
    with pytest.raises(ValueError, match="max_upload_bytes"):
        Limits(max_upload_bytes=True)


def test_every_client_operation_and_introspection_fit_the_default_limits() -> None:
    limits = Limits()
    for path in sorted(QUERIES.glob("*.graphql")):
        if path.stem != "fragments":
            limits.parse_query(load_operation(path.stem))
    limits.parse_query(get_introspection_query())


# --------------------------------------------------------------------------- GraphQL


def test_page_size(small_user: User, small_run: str) -> None:
    key = {"entity": small_user.entity, "project": PROJECT}
    run_key = {**key, "name": small_run}
    with small_user.http() as client:
        assert "errors" not in graphql(client, load_operation("list_runs"), {**key, "first": 5})
        for name, variables in (
            ("list_runs", {**key, "first": 6}),
            ("list_run_files", {**run_key, "first": 6}),
            ("list_logged_artifacts", {**run_key, "first": 1000}),
            ("list_used_artifacts", {**run_key, "first": 6}),
        ):
            message = _errors(graphql(client, load_operation(name), variables))
            assert "page size limit of 5" in message, name


def test_sampled_history_spec_count(small_user: User, small_run: str) -> None:
    variables = {"entity": small_user.entity, "project": PROJECT, "name": small_run}
    spec = json.dumps({"keys": ["loss"]})
    with small_user.http() as client:
        ok = graphql(
            client, load_operation("get_run_sampled_history"), {**variables, "specs": [spec] * 2}
        )
        assert "errors" not in ok
        body = graphql(
            client, load_operation("get_run_sampled_history"), {**variables, "specs": [spec] * 3}
        )
    assert "3 specs, over the limit of 2" in _errors(body)


def test_query_depth_size_and_tokens_on_default_server(user: User) -> None:
    variables = {"entity": user.entity, "project": "p", "run": "r"}
    with user.http() as client:
        deep = graphql(client, operation("limit_deep_query"), variables)
        bomb = graphql(client, operation("limit_fragment_bomb"), variables)
    assert deep.get("data") is None and "depth limit" in _errors(deep)
    assert bomb.get("data") is None and "size limit" in _errors(bomb)


def test_query_tokens(small_user: User) -> None:
    variables = {"entity": small_user.entity, "project": "p", "run": "r"}
    with small_user.http() as client:
        body = graphql(client, operation("limit_deep_query"), variables)
    assert "more than 150 tokens" in _errors(body)


def test_graphql_body_size(small_user: User) -> None:
    padding = "x" * 30_000
    body = {"query": load_operation("get_viewer"), "variables": {"pad": padding}}
    with small_user.http() as client:
        declared = client.post("/graphql", json=body)
        assert declared.status_code == 413
        assert "over the limit of 20000 bytes" in declared.json()["errors"][0]["message"]
        chunked = client.post("/graphql", content=iter([json.dumps(body).encode()]))
        assert chunked.status_code == 413
        assert (
            client.post("/graphql", json={"query": load_operation("get_viewer")}).status_code == 200
        )


# --------------------------------------------------------------------------- REST


def _stream_url(user: User, run: str) -> str:
    return f"{user.server.url}/files/{user.entity}/{PROJECT}/{run}/file_stream"


def test_file_stream_body_and_row_size(small_user: User, small_run: str) -> None:
    url = _stream_url(small_user, small_run)
    before = db_digest(small_user.server.data_dir)
    big = {"files": {"output.log": {"offset": 0, "content": ["y" * 100] * 200}}}
    response = httpx.post(url, json=big, auth=small_user.auth, timeout=10)
    assert response.status_code == 413
    chunked = httpx.post(
        url, content=iter([json.dumps(big).encode()]), auth=small_user.auth, timeout=10
    )
    assert chunked.status_code == 413
    row = json.dumps({"_step": 0, "text": "z" * 300})
    ok_row = json.dumps({"_step": 0, "loss": 1.5})
    long_row = {"files": {"wandb-history.jsonl": {"offset": 0, "content": [ok_row, row]}}}
    response = httpx.post(url, json=long_row, auth=small_user.auth, timeout=10)
    assert response.status_code == 400
    assert (
        "line 1 is over the row size limit of 200 bytes" in response.json()["errors"][0]["message"]
    )
    multibyte = {"files": {"output.log": {"offset": 0, "content": ["\u00e9" * 150]}}}  # 300 bytes
    assert httpx.post(url, json=multibyte, auth=small_user.auth, timeout=10).status_code == 400
    assert db_digest(small_user.server.data_dir) == before
    fine = {"files": {"wandb-history.jsonl": {"offset": 0, "content": [ok_row]}}}
    assert httpx.post(url, json=fine, auth=small_user.auth, timeout=10).status_code == 200


def _upload_url(user: User, run: str, name: str) -> str:
    variables = {
        "input": {
            "entityName": user.entity,
            "projectName": PROJECT,
            "runName": run,
            "files": [name],
        }
    }
    with user.http() as client:
        body = graphql(client, load_operation("create_run_files"), variables)
    url: str = body["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    return url


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(data_dir)) for p in (data_dir / "files").rglob("*") if p.is_file()
    )


def test_upload_size(small_user: User, small_run: str) -> None:
    data_dir = small_user.server.data_dir
    url = _upload_url(small_user, small_run, "big.bin")
    before, files_before = db_digest(data_dir), _leftovers(data_dir)
    declared = httpx.put(url, content=b"a" * 1001, timeout=10)
    assert declared.status_code == 413
    assert "upload is over the limit of 1000 bytes" in declared.json()["errors"][0]["message"]
    chunked = httpx.put(url, content=iter([b"a" * 600, b"b" * 600]), timeout=10)
    assert chunked.status_code == 413
    assert db_digest(data_dir) == before
    assert _leftovers(data_dir) == files_before  # no temporary file left behind
    assert httpx.put(url, content=b"a" * 1000, timeout=10).status_code == 200
