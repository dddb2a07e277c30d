"""Fuzzing the server: property-based GraphQL operations generated from `schema.graphql`
(valid and invalid ones, with hypothesis-graphql) and malformed bodies for every route.
The server must never answer 5xx.

The normal suite runs a few hundred examples per property (`RUNAPI_FUZZ_EXAMPLES`);
`tests/stress/test_fuzz_many.py` runs thousands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ROOT, Server, User
from hardening import run_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

SCHEMA = (ROOT / "schema.graphql").read_text()
EXAMPLES = int(os.environ.get("RUNAPI_FUZZ_EXAMPLES", "150"))
FUZZ_NAME = "0"
"""Entity, project and run name of the seeded data: hypothesis often draws "0"."""

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
CUSTOM_SCALARS = {
    "JSONString": (
        _json_values.map(json.dumps)
        | st.text(max_size=30)
        | st.sampled_from(['{"keys": ["loss"]}'])
    ).map(nodes.String),
    "JSON": st.text(max_size=20).map(nodes.String) | st.integers().map(nodes.Int),
    "DateTime": st.sampled_from(["2024-05-01T12:00:00", "yesterday", ""]).map(nodes.String),
    "Int64": st.integers(min_value=-(2**70), max_value=2**70).map(nodes.Int),
}


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )


def check_response(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body, dict), (what, body)
    assert "data" in body or body.get("errors"), (what, body)


def fuzz_operations(client: httpx.Client, examples: int, mode: Mode) -> None:
    """Post `examples` generated queries and mutations; none may get a 5xx."""
    strategy = from_schema(SCHEMA, custom_scalars=CUSTOM_SCALARS, mode=mode)

    @_settings(examples)
    @given(operation=strategy)
    def check(operation: object) -> None:
        text = operation.decode() if isinstance(operation, bytes) else str(operation)
        response = client.post("/graphql", content=json.dumps({"query": text}))
        check_response(response, text)

    check()


def fuzz_bodies(client: httpx.Client, user: User, examples: int) -> None:
    """Post random bytes and JSON documents to /graphql and file_stream; no 5xx."""
    stream_url = f"/files/{user.entity}/{FUZZ_NAME}/{FUZZ_NAME}/file_stream"
    files = st.dictionaries(
        st.sampled_from(["wandb-history.jsonl", "wandb-events.jsonl", "wandb-summary.json",
                         "output.log", "../x", "a\\b", ""]) | st.text(max_size=10),
        st.fixed_dictionaries(
            {"offset": st.integers(min_value=-5, max_value=2**64) | st.floats() | st.none(),
             "content": st.lists(_json_values.map(json.dumps) | st.text(max_size=20), max_size=5)}
        ) | _json_values,
        max_size=3,
    )  # fmt: skip
    posts = st.fixed_dictionaries(
        {"files": files},
        optional={"complete": _json_values, "exitcode": _json_values, "dropped": _json_values},
    )
    bodies = (
        st.binary(max_size=200)
        | _json_values.map(lambda v: json.dumps(v).encode())
        | posts.map(lambda v: json.dumps(v).encode())
    )

    @_settings(examples)
    @given(body=bodies, route=st.sampled_from(["/graphql", stream_url]))
    def check(body: bytes, route: str) -> None:
        response = client.post(route, content=body)
        assert response.status_code < 500, (route, body[:200], response.text[:500])
        assert response.json(), (route, body[:200])

    check()


@pytest.fixture(scope="module")
def fuzz_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A user named "0" with project "0", run "0" holding history, a file and an artifact."""
    with run_server(tmp_path_factory.mktemp("fuzz-data")) as server:
        yield seed_fuzz_user(server)


def seed_fuzz_user(server: Server) -> User:
    user = User(name=FUZZ_NAME, api_key=server.create_user(FUZZ_NAME), server=server)
    with user.http() as client:
        upsert = {
            "entityName": FUZZ_NAME,
            "modelName": FUZZ_NAME,
            "name": FUZZ_NAME,
            "config": json.dumps({"lr": {"value": 0.1, "desc": None}}),
        }
        from conftest import load_operation

        _post(client, load_operation("upsert_run"), {"input": upsert})
        _post(
            client,
            load_operation("create_artifact"),
            {
                "input": {
                    "entityName": FUZZ_NAME,
                    "projectName": FUZZ_NAME,
                    "runName": FUZZ_NAME,
                    "artifactTypeName": "dataset",
                    "artifactCollectionNames": [FUZZ_NAME],
                    "digestAlgorithm": "MANIFEST_MD5",
                    "digest": FUZZ_NAME,
                }
            },
        )
        rows = [json.dumps({"_step": i, "loss": 1 / (i + 1)}) for i in range(20)]
        stream = {"files": {"wandb-history.jsonl": {"offset": 0, "content": rows},
                            "output.log": {"offset": 0, "content": ["hello"]}}}  # fmt: skip
        url = f"/files/{FUZZ_NAME}/{FUZZ_NAME}/{FUZZ_NAME}/file_stream"
        assert client.post(url, json=stream).status_code == 200
    return user


def _post(client: httpx.Client, text: str, variables: dict[str, Any]) -> None:
    response = client.post("/graphql", json={"query": text, "variables": variables})
    assert response.status_code == 200 and not response.json().get("errors"), response.text


def test_generated_valid_operations_never_5xx(fuzz_user: User) -> None:
    with fuzz_user.http() as client:
        fuzz_operations(client, EXAMPLES, Mode.POSITIVE)


def test_generated_invalid_operations_never_5xx(fuzz_user: User) -> None:
    with fuzz_user.http() as client:
        fuzz_operations(client, EXAMPLES, Mode.NEGATIVE)


def test_malformed_bodies_never_5xx(fuzz_user: User) -> None:
    with fuzz_user.http() as client:
        fuzz_bodies(client, fuzz_user, EXAMPLES)
