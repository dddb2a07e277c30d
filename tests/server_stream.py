"""Helpers for the server's file-stream, history and file tests (raw HTTP + GraphQL).

- `gql(user, name, variables)`: run `queries/<name>.graphql` (or `tests/operations/<name>`)
  and return `data`, failing on GraphQL errors; `gql_errors(...)` returns the errors.
- `create_run(user)`: a new run through `upsertBucket`; returns its name.
- `stream(user, run, {file: (offset, lines)}, **extra)`: one file_stream POST.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
from conftest import User, load_operation

OPERATIONS = Path(__file__).resolve().parent / "operations"
PROJECT = "stream-proj"
_run_counter = itertools.count()


def operation(name: str) -> str:
    local = OPERATIONS / f"{name}.graphql"
    return local.read_text() if local.exists() else load_operation(name)


def post_graphql(user: User, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    with user.http() as client:
        response = client.post("/graphql", json={"query": operation(name), "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.text)
    return body


def gql(user: User, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = post_graphql(user, name, variables)
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def gql_errors(user: User, name: str, variables: dict[str, Any]) -> list[str]:
    body = post_graphql(user, name, variables)
    return [error["message"] for error in body.get("errors") or []]


def run_vars(user: User, run: str, **extra: Any) -> dict[str, Any]:
    return {"entity": user.entity, "project": PROJECT, "name": run, **extra}


def run_field(user: User, name: str, run: str, field: str, **extra: Any) -> Any:
    """One field of the run from operation `name`."""
    return gql(user, name, run_vars(user, run, **extra))["project"]["run"][field]


def create_run(user: User) -> str:
    run = f"run{next(_run_counter)}"
    data = gql(
        user,
        "upsert_run",
        {"input": {"entityName": user.entity, "modelName": PROJECT, "name": run}},
    )
    assert data["upsertBucket"]["bucket"]["name"] == run
    return run


def stream_url(user: User, run: str, entity: str | None = None) -> str:
    return f"{user.server.url}/files/{entity or user.entity}/{PROJECT}/{run}/file_stream"


def stream(
    user: User, run: str, files: dict[str, tuple[int, list[str]]], **extra: Any
) -> httpx.Response:
    body = {
        "files": {name: {"offset": off, "content": lines} for name, (off, lines) in files.items()},
        **extra,
    }
    return httpx.post(stream_url(user, run), json=body, auth=user.auth, timeout=30.0)


def history_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(row) for row in rows]
