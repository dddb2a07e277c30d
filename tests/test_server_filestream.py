"""The file_stream endpoint over real HTTP: storage by offset, summary, state, validation."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import User
from server_stream import (
    create_run,
    gql,
    history_lines,
    run_field,
    run_vars,
    stream,
    stream_url,
)

HISTORY = "wandb-history.jsonl"


def stats(user: User, run: str) -> dict[str, object]:
    data = gql(user, "get_run_stream_stats", run_vars(user, run))
    result: dict[str, object] = data["project"]["run"]
    return result


def test_resent_chunk_does_not_duplicate_rows(user: User) -> None:
    run = create_run(user)
    rows = history_lines([{"_step": i, "loss": 1.0 / (i + 1)} for i in range(5)])
    first = stream(user, run, {HISTORY: (0, rows[:3])})
    assert first.status_code == 200
    assert first.json() == {"exitcode": None, "limits": {}}
    assert stream(user, run, {HISTORY: (0, rows[:3])}).status_code == 200  # re-sent
    assert stream(user, run, {HISTORY: (2, rows[2:])}).status_code == 200  # overlapping
    assert run_field(user, "get_run_history", run, "history") == rows
    assert stats(user, run)["historyLineCount"] == 5


def test_non_finite_and_nested_values_round_trip_exactly(user: User) -> None:
    run = create_run(user)
    lines = [
        '{"_step": 0, "a": NaN, "b": Infinity, "c": -Infinity}',
        '{"_step": 1, "h": {"_type": "histogram", "bins": [1, 2.5], "v": {"x": [NaN]}}}',
        '{"_step": 2, "s": "text", "t": true, "n": null, "l": [1, [2, {"y": -Infinity}]]}',
    ]
    assert stream(user, run, {HISTORY: (0, lines)}).status_code == 200
    assert run_field(user, "get_run_history", run, "history") == lines
    sampled = run_field(
        user, "get_run_sampled_history", run, "sampledHistory", specs=[json.dumps({"keys": ["h"]})]
    )
    assert json.dumps(sampled) == json.dumps(
        [[{"h": {"_type": "histogram", "bins": [1, 2.5], "v": {"x": [float("nan")]}}}]]
    )


def test_nan_survives_sampled_history_json(user: User) -> None:
    run = create_run(user)
    stream(user, run, {HISTORY: (0, ['{"_step": 0, "a": NaN, "b": -Infinity}'])})
    with user.http() as client:
        from server_stream import operation

        response = client.post(
            "/graphql",
            json={
                "query": operation("get_run_sampled_history"),
                "variables": run_vars(user, run, specs=[json.dumps({"keys": ["a", "b"]})]),
            },
        )
    assert '"a":NaN' in response.text and '"b":-Infinity' in response.text


def test_summary_is_replaced_whole(user: User) -> None:
    run = create_run(user)
    stream(user, run, {"wandb-summary.json": (0, ['{"acc": 0.5, "loss": 2}'])})
    assert json.loads(str(stats(user, run)["summaryMetrics"])) == {"acc": 0.5, "loss": 2}
    stream(user, run, {"wandb-summary.json": (0, ['{"old": 1}', '{"loss": 1, "x": NaN}'])})
    summary = str(stats(user, run)["summaryMetrics"])
    assert "NaN" in summary
    assert sorted(json.loads(summary)) == ["loss", "x"]


@pytest.mark.parametrize(("exitcode", "state"), [(0, "finished"), (3, "failed")])
def test_complete_sets_final_state(user: User, exitcode: int, state: str) -> None:
    run = create_run(user)
    before = stats(user, run)
    assert before["state"] == "running"
    assert stream(user, run, {}, complete=True, exitcode=exitcode).status_code == 200
    after = stats(user, run)
    assert after["state"] == state
    assert str(after["heartbeatAt"]) >= str(before["heartbeatAt"])


def test_heartbeat_advances_and_state_unchanged_without_complete(user: User) -> None:
    run = create_run(user)
    before = stats(user, run)
    stream(user, run, {HISTORY: (0, ['{"_step": 0}'])})
    after = stats(user, run)
    assert after["state"] == "running"
    assert str(after["heartbeatAt"]) > str(before["heartbeatAt"])


def test_events_set_system_metrics_and_counts(user: User) -> None:
    run = create_run(user)
    events = [json.dumps({"system.cpu": i, "_timestamp": 100 + i}) for i in range(4)]
    stream(user, run, {"wandb-events.jsonl": (0, events[:2])})
    stream(user, run, {"wandb-events.jsonl": (1, events[1:])})
    result = stats(user, run)
    assert json.loads(str(result["systemMetrics"])) == {"system.cpu": 3, "_timestamp": 103}
    assert result["eventsLineCount"] == 4
    assert json.loads(str(result["eventsTail"])) == events  # row texts, as on W&B
    assert run_field(user, "get_run_events", run, "events") == events


def test_output_log_becomes_a_run_file(user: User) -> None:
    run = create_run(user)
    stream(user, run, {"output.log": (0, ["hello", "wörld"])})
    stream(user, run, {"output.log": (1, ["wörld", "bye"])})
    result = stats(user, run)
    assert result["logLineCount"] == 3
    assert result["fileCount"] == 1
    files = run_field(user, "list_run_files", run, "files")["edges"]
    node = files[0]["node"]
    assert node["name"] == "output.log"
    assert node["mimetype"] == "text/plain"
    expected = "hello\nwörld\nbye".encode()
    assert node["sizeBytes"] == len(expected)
    with user.http() as client:
        response = client.get(node["url"])
    assert response.status_code == 200
    assert response.content == expected


def test_history_tail_and_line_count(user: User) -> None:
    run = create_run(user)
    rows = history_lines([{"_step": i} for i in range(15)])
    stream(user, run, {HISTORY: (0, rows)})
    result = stats(user, run)
    assert result["historyLineCount"] == 15
    tail = json.loads(str(result["historyTail"]))  # a list of row texts, as on W&B
    assert [json.loads(row) for row in tail] == [{"_step": i} for i in range(5, 15)]


def test_missing_or_wrong_key_is_401(user: User) -> None:
    run = create_run(user)
    body = {"files": {}}
    assert httpx.post(stream_url(user, run), json=body).status_code == 401
    bad = httpx.post(stream_url(user, run), json=body, auth=("api", "local-" + "0" * 40))
    assert bad.status_code == 401


def test_other_users_run_and_missing_run_are_404(user: User, other_user: User) -> None:
    run = create_run(user)
    rows = {"files": {HISTORY: {"offset": 0, "content": ['{"_step": 0}']}}}
    foreign = httpx.post(stream_url(user, run), json=rows, auth=other_user.auth)
    assert foreign.status_code == 404
    missing = httpx.post(stream_url(user, "nosuchrun"), json=rows, auth=user.auth)
    assert missing.status_code == 404
    assert run_field(user, "get_run_history", run, "history") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"files": []}, "'files' must be an object"),
        ({"files": {HISTORY: {"offset": -1, "content": []}}}, "must not be negative"),
        ({"files": {HISTORY: {"offset": "0", "content": []}}}, "offset must be an integer"),
        ({"files": {HISTORY: {"offset": 0, "content": "x"}}}, "list of strings"),
        ({"files": {HISTORY: {"offset": 0, "content": ["[1]"]}}}, "must be a JSON object"),
        ({"files": {HISTORY: {"offset": 0, "content": ["{"]}}}, "not valid JSON"),
        ({"files": {HISTORY: {"offset": 0, "content": ['{"_step": "a"}']}}}, "_step"),
        ({"files": {"wandb-summary.json": {"offset": 0, "content": ["3"]}}}, "JSON object"),
        ({"files": {"../x.log": {"offset": 0, "content": ["a"]}}}, "'..'"),
        ({"files": {}, "complete": "yes"}, "'complete' must be a boolean"),
        ({"files": {}, "exitcode": "1"}, "'exitcode' must be an integer"),
    ],
)
def test_bad_posts_are_400_and_write_nothing(user: User, body: object, message: str) -> None:
    run = create_run(user)
    # A valid history chunk rides along in the same post: it must not be stored either.
    if isinstance(body, dict) and isinstance(body.get("files"), dict):
        body["files"]["wandb-events.jsonl"] = {"offset": 0, "content": ['{"cpu": 1}']}
    response = httpx.post(stream_url(user, run), json=body, auth=user.auth)
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    result = stats(user, run)
    assert result["eventsLineCount"] == 0
    assert result["historyLineCount"] == 0
    assert result["state"] == "running"


def test_body_that_is_not_json_is_400(user: User) -> None:
    run = create_run(user)
    response = httpx.post(stream_url(user, run), content=b"{nope", auth=user.auth)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["errors"][0]["message"]
