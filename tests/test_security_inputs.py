"""Inputs that used to cost the server too much or crash it: many tags, integers beyond
64 bits (or 32 for an exit code), control characters in file names. Each is a clear input
error (HTTP 400 or a GraphQL error) that changes nothing, or is handled in linear time."""

from __future__ import annotations

import json
import time

import pytest
from conftest import User
from hardening import db_digest
from server_stream import PROJECT, create_run, gql, gql_errors, post_graphql, run_vars, stream


def test_60k_tags_are_deduplicated_in_linear_time(user: User) -> None:
    tags = [f"tag{i}" for i in range(60_000)]
    variables = {
        "input": {
            "entityName": user.entity,
            "modelName": PROJECT,
            "name": "many-tags",
            "tags": tags + tags[:100],
        }
    }
    began = time.monotonic()
    data = gql(user, "upsert_run", variables)
    assert time.monotonic() - began < 3
    assert data["upsertBucket"]["bucket"]["name"] == "many-tags"
    stored = gql(user, "run_details", run_vars(user, "many-tags"))["project"]["run"]["tags"]
    assert stored == tags


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("exitcode", 2**63, "'exitcode' out of range: 9223372036854775808 is not between"),
        ("exitcode", 2**31, "'exitcode' out of range: 2147483648 is not between -2147483648"),
        ("exitcode", -(2**31) - 1, "'exitcode' out of range"),
        ("exitcode", 10**400, "'exitcode'"),
        ("dropped", 2**64, "'dropped' out of range"),
    ],
)
def test_overflowing_file_stream_integers_are_400(
    user: User, field: str, value: int, message: str
) -> None:
    run = create_run(user)
    before = db_digest(user.server.data_dir)
    response = stream(user, run, {}, complete=True, **{field: value})
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"][0]["message"]
    assert db_digest(user.server.data_dir) == before


def test_overflowing_graphql_integers_are_input_errors(user: User) -> None:
    run = create_run(user)
    for variables, message in (
        ({"minStep": 2**63}, "Int64 out of range: 9223372036854775808"),
        ({"maxStep": -(2**63) - 1}, "Int64 out of range"),
        ({"minStep": 1e300}, "Int64 out of range"),
    ):
        errors = gql_errors(user, "get_run_history", run_vars(user, run, **variables))
        assert any(message in e for e in errors), errors
    for spec, message in (
        ({"keys": ["loss"], "minStep": 10**30}, "minStep out of range"),
        ({"keys": ["loss"], "samples": 2**70}, "samples out of range"),
    ):
        specs = [json.dumps(spec)]
        errors = gql_errors(user, "get_run_sampled_history", run_vars(user, run, specs=specs))
        assert any(message in e for e in errors), errors
    body = post_graphql(user, "get_run_history", run_vars(user, run, samples=2**40))
    assert "errors" in body and "Int cannot represent" in body["errors"][0]["message"]
    assert "Traceback" not in json.dumps(body) and "too large" not in json.dumps(body)


@pytest.mark.parametrize("name", ["a\nb.txt", "tab\there.txt", "bell\x07.txt", "ls\u2028.txt"])
def test_create_run_files_refuses_control_characters(user: User, name: str) -> None:
    run = create_run(user)
    before = db_digest(user.server.data_dir)
    variables = {
        "input": {
            "entityName": user.entity,
            "projectName": PROJECT,
            "runName": run,
            "files": [name],
        }
    }
    errors = gql_errors(user, "create_run_files", variables)
    assert any("must not contain control characters" in e for e in errors), errors
    assert db_digest(user.server.data_dir) == before
