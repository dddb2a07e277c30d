"""Raw GraphQL over HTTP for the server tests: operations from files, data or errors back.

- `operation("run_details")`: `tests/operations/run_details.graphql` plus the shared
  fragments of `queries/fragments.graphql` it uses.
- `data(client, text, variables)`: the `data` of a response that must have no errors.
- `error_messages(client, text, variables)`: the messages of a response that must fail
  with GraphQL errors (HTTP 200).
- `upsert(client, **input)`: `UpsertRun`, returning the payload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from conftest import QUERIES, load_operation

OPERATIONS = Path(__file__).resolve().parent / "operations"


def _fragments() -> dict[str, str]:
    blocks = (QUERIES / "fragments.graphql").read_text().split("\nfragment ")
    bodies = [b if b.startswith("fragment ") else "fragment " + b for b in blocks]
    return {body.split()[1]: body for body in bodies}


def operation(name: str) -> str:
    """The text of `tests/operations/<name>.graphql` with the fragments it uses."""
    text = (OPERATIONS / f"{name}.graphql").read_text()
    fragments = _fragments()
    used: dict[str, str] = {}
    pending = [text]
    while pending:
        chunk = pending.pop()
        for fname, body in fragments.items():
            if f"...{fname}" in chunk and fname not in used:
                used[fname] = body
                pending.append(body)
    return "\n".join([text, *used.values()])


def post(client: httpx.Client, text: str, variables: dict[str, Any] | None = None) -> Any:
    response = client.post("/graphql", json={"query": text, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return json.loads(response.text)


def data(client: httpx.Client, text: str, variables: dict[str, Any] | None = None) -> Any:
    body = post(client, text, variables)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def error_messages(
    client: httpx.Client, text: str, variables: dict[str, Any] | None = None
) -> list[str]:
    body = post(client, text, variables)
    assert body.get("errors"), body
    return [e["message"] for e in body["errors"]]


def upsert(client: httpx.Client, **input: Any) -> Any:
    """Run `UpsertRun` with `input`; returns `{"inserted": ..., "bucket": {...}}`."""
    return data(client, load_operation("upsert_run"), {"input": input})["upsertBucket"]


def wrapped(config: dict[str, Any]) -> str:
    """A config as upsertBucket takes it: JSON of `{key: {"value": v, "desc": None}}`."""
    return json.dumps({k: {"value": v, "desc": None} for k, v in config.items()})
