"""Run filters cannot freeze the server: ``$regex`` runs on RE2 (linear time, no
backtracking), and filter nesting is bounded with a clear error."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import Server, User
from hardening import new_port, spawn_server
from server_stream import operation

from runapi_server.users import create_user

PROJECT = "regex-proj"


def list_runs(client: httpx.Client, user: User, filters: Any) -> dict[str, Any]:
    variables = {"entity": user.entity, "project": PROJECT, "filters": json.dumps(filters)}
    response = client.post(
        "/graphql", json={"query": operation("list_runs_page"), "variables": variables}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def make_run(client: httpx.Client, user: User, name: str, display_name: str) -> None:
    variables = {
        "input": {
            "entityName": user.entity,
            "modelName": PROJECT,
            "name": name,
            "displayName": display_name,
        }
    }
    response = client.post(
        "/graphql", json={"query": operation("upsert_run"), "variables": variables}
    )
    assert "errors" not in response.json(), response.text


def test_a_catastrophic_regex_neither_hangs_nor_starves_the_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = new_port()
    proc = spawn_server(data_dir, port, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        user = User("alice", create_user(data_dir, "alice"), Server(url, data_dir))
        with user.http() as client:
            for i in range(3):
                make_run(client, user, f"r{i}", "a" * 29 + "!")  # 30 characters, no match
            result: dict[str, Any] = {}

            def evil() -> None:
                began = time.monotonic()
                with user.http() as other:
                    result["body"] = list_runs(other, user, {"display_name": {"$regex": "(a+)+$"}})
                result["seconds"] = time.monotonic() - began

            thread = threading.Thread(target=evil)
            thread.start()
            pings = []
            while thread.is_alive() and len(pings) < 50:
                began = time.monotonic()
                assert httpx.get(url + "/healthz", timeout=10).status_code == 200
                pings.append(time.monotonic() - began)
            thread.join(timeout=30)
            assert not thread.is_alive()
        assert result["body"]["data"]["project"]["runs"]["edges"] == []
        assert result["seconds"] < 5
        assert max(pings) < 1
        # the same filter still matches what it should
        with user.http() as client:
            found = list_runs(client, user, {"display_name": {"$regex": "(a+)+!$"}})
        assert len(found["data"]["project"]["runs"]["edges"]) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_regex_options_and_unsupported_syntax_are_clear(user: User) -> None:
    with user.http() as client:
        make_run(client, user, "r0", "alpha")
        for filters, message in (
            ({"name": {"$regex": "(a)\\1"}}, "invalid $regex '(a)\\\\1' on 'name': invalid escape"),
            ({"name": {"$regex": "a(?=b)"}}, "RE2 syntax: no backreferences or lookaround"),
            ({"name": {"$regex": "a", "$options": "x"}}, "must be letters from 'ims'"),
            ({"name": {"$regex": "a" * 5000}}, "over 4096 characters"),
        ):
            body = list_runs(client, user, filters)
            messages = [e["message"] for e in body["errors"]]
            assert any(message in m for m in messages), (filters, messages)


def test_a_400_deep_and_is_a_clear_error(user: User) -> None:
    filters: Any = {"state": "finished"}
    for _ in range(400):
        filters = {"$and": [filters]}
    with user.http() as client:
        make_run(client, user, "r0", "alpha")
        body = list_runs(client, user, filters)
        (error,) = body["errors"]
        assert error["message"] == (
            "filter nests $and/$or/$nor more than 32 levels deep: flatten it"
        )
        filters = {"state": "finished"}
        for _ in range(32):
            filters = {"$or": [filters]}
        assert "errors" not in list_runs(client, user, filters)
