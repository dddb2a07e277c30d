"""One small query cannot multiply a big response: history-type fields are limited per
operation (aliases and fragments expanded, ``max_costly_fields``), and what a request
returns is bounded by ``max_response_bytes`` across all its fields, aliases and list items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from conftest import Server, User
from hardening import new_port, run_server, spawn_server
from server_stream import PROJECT, create_run, operation, stream
from test_security_bodies import rss_bytes

from runapi_server.limits import Limits
from runapi_server.users import create_user

MIB = 1024 * 1024
ROWS = 2_000
PAD = "x" * 1_000  # ~1 KB per row: a 2 MB history


def log_big_history(user: User) -> str:
    run = create_run(user)
    lines = [json.dumps({"_step": i, "loss": 1 / (i + 1), "pad": PAD}) for i in range(ROWS)]
    for start in range(0, ROWS, 500):
        response = stream(user, run, {"wandb-history.jsonl": (start, lines[start : start + 500])})
        assert response.status_code == 200, response.text
    return run


def post(user: User, name: str, run: str) -> dict[str, Any]:
    variables = {"entity": user.entity, "project": PROJECT, "name": run}
    with user.http() as client:
        response = client.post("/graphql", json={"query": operation(name), "variables": variables})
    assert response.status_code == 200, response.text[:300]
    body: dict[str, Any] = response.json()
    return body


def test_300_aliases_of_a_big_history_are_refused_within_memory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = new_port()
    proc = spawn_server(data_dir, port, tmp_path / "serve.log")
    try:
        server = Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir)
        user = User(name="alice", api_key=create_user(data_dir, "alice"), server=server)
        run = log_big_history(user)
        start = rss_bytes(proc.pid)
        body = post(user, "history_aliases_300", run)
        assert body.get("data") is None
        (error,) = body["errors"]
        assert error["message"].startswith("query selects run history fields")
        assert "more than 20 times (the max_costly_fields limit)" in error["message"]
        assert rss_bytes(proc.pid) - start < 400 * MIB
        # 20 aliases are within the limits: 40 MB, answered whole.
        body = post(user, "history_aliases_20", run)
        assert "errors" not in body
        assert len(body["data"]["project"]["run"]["h20"]) == ROWS
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_response_budget_spans_fields_aliases_and_list_items(tmp_path: Path) -> None:
    limits = Limits(max_response_bytes=10 * MIB)
    with run_server(tmp_path / "data", limits) as server:
        user = User(name="bob", api_key=server.create_user("bob"), server=server)
        run = log_big_history(user)
        body = post(user, "history_aliases_20", run)  # 20 x 2 MB > 10 MiB
        assert body["data"]["project"]["run"] is None
        messages = {e["message"] for e in body["errors"]}
        assert messages == {
            "response too large: with history this request would return over 10485760 bytes"
            " (the max_response_bytes limit); ask for fewer rows (samples, minStep/maxStep,"
            " smaller pages) or fewer aliases per request"
        }
        # One history fits; the same history of many runs in one list does not.
        for _ in range(5):
            log_big_history(user)
        with httpx.Client(base_url=server.url, auth=user.auth, timeout=30) as client:
            variables = {"entity": user.entity, "project": PROJECT, "name": run}
            one = client.post(
                "/graphql", json={"query": operation("get_run_history"), "variables": variables}
            ).json()
            listed = client.post(
                "/graphql",
                json={
                    "query": operation("list_runs_history"),
                    "variables": {"entity": user.entity, "project": PROJECT, "first": 10},
                },
            ).json()
        assert len(one["data"]["project"]["run"]["history"]) == ROWS
        assert listed["data"] == {"project": {"runs": None}}
        assert "the max_response_bytes limit" in listed["errors"][0]["message"]
