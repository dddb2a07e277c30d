"""Large file_stream posts, whose history lines are parsed in parts while the parts
before are inserted (runapi_server/history_ingest.py): the same rows, counters and
errors as the same lines posted in small posts, and nothing stored from a bad post."""

from __future__ import annotations

import json
from typing import Any

import httpx
import seeding
from conftest import User
from history_exports import (
    assert_logged,
    export_tables,
    live_steps,
    parquet_urls,
    same_frames,
    tricky_rows,
)
from seeding import close_apis, log_history, make_api, new_run, rows_text
from server_stream import create_run, gql, run_field, run_vars, stream, stream_url

__all__ = ["close_apis"]

HISTORY = "wandb-history.jsonl"
LINES = 7_300  # three parts and a bit (history_ingest.PART is 2,500)


def _lines(version: int) -> list[str]:
    """Rows of several shapes and spellings: steps following lines, then a gap and steps
    out of order, 2 key sets, then 6 alternating, escapes, non-ASCII, NaN, whitespace."""
    lines = []
    for i in range(LINES):
        step = i if i < 4_000 else i + 10 if i < 6_000 else 20_000 - i
        row: dict[str, Any] = {"_step": step, "loss": i / 7 + version}
        if i % 50 == 0:
            row["val/acc"] = 0.5
        if 2_600 <= i < 3_000:
            row[f"k{i % 6}"] = 'é "q" \\ \t 😀'
        text = json.dumps(row, ensure_ascii=i % 3 == 0)
        if i % 11 == 0:
            text = text.replace('"loss": ', '"loss":\n ').replace("}", ', "nan": NaN }')
        lines.append(text)
    return lines


def _state(user: User, run: str) -> tuple[Any, ...]:
    history = run_field(user, "get_run_history", run, "history", samples=100_000)
    keys = run_field(user, "get_run_history_keys", run, "historyKeys")
    stats = gql(user, "get_run_stream_stats", run_vars(user, run))["project"]["run"]
    return history, keys, stats["historyLineCount"], stats["historyTail"]


def _small_posts(user: User, run: str, lines: list[str], offset: int = 0) -> None:
    for start in range(0, len(lines), 1_000):
        response = stream(user, run, {HISTORY: (offset + start, lines[start : start + 1_000])})
        assert response.status_code == 200


def _by_step(lines: list[str]) -> list[str]:
    steps = [int(line.split('"_step": ')[1].split(",")[0]) for line in lines]
    return [lines[i] for i in sorted(range(len(lines)), key=lambda i: (steps[i], i))]


def test_a_large_post_stores_what_small_posts_store(user: User) -> None:
    large, small = create_run(user), create_run(user)
    first = _lines(0)
    assert stream(user, large, {HISTORY: (0, first)}).status_code == 200
    _small_posts(user, small, first)
    history, _, count, _ = _state(user, large)
    assert history == _by_step(first)  # every row's text as sent
    assert count == LINES
    assert _state(user, large) == _state(user, small)
    # Re-sent with other values from line 100 on (replacing lines): the same again.
    again = _lines(1)[100:]
    assert stream(user, large, {HISTORY: (100, again)}).status_code == 200
    _small_posts(user, small, again, offset=100)
    assert _state(user, large) == _state(user, small)
    assert _state(user, large)[0] == _by_step(first[:100] + again)


def _refused(user: User, run: str, body: dict[str, Any], message: str) -> None:
    response = httpx.post(stream_url(user, run), json=body, auth=user.auth, timeout=30.0)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == message


def test_a_bad_line_in_a_later_part_is_400_and_writes_nothing(user: User) -> None:
    run = create_run(user)
    kept = ['{"_step": 0, "a": 1}', '{"_step": 1, "a": 2}']
    assert stream(user, run, {HISTORY: (0, kept)}).status_code == 200
    before = _state(user, run)
    lines = _lines(0)
    lines[6_100] = "[1]"
    body = {"files": {HISTORY: {"offset": 0, "content": lines}}}
    _refused(user, run, body, f"{HISTORY} line 6100 must be a JSON object, got list")
    lines[6_100] = '{"_step": "x"}'
    _refused(user, run, body, f"{HISTORY} line 6100: _step must be an integer, got 'x'")
    assert _state(user, run) == before


def test_the_error_is_the_one_of_the_whole_lines(user: User) -> None:
    run = create_run(user)
    lines = _lines(0)
    lines[10] = "[1]"  # not an object, in the first part ...
    lines[6_000] = "{"  # ... but lines are decoded before they are checked: this one is named
    body: dict[str, Any] = {"files": {HISTORY: {"offset": 0, "content": lines}}}
    response = httpx.post(stream_url(user, run), json=body, auth=user.auth, timeout=30.0)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(f"{HISTORY} line 6000 is not valid")
    lines[6_000] = "{}"
    body["complete"] = "yes"  # a bad history line comes first, as the file comes first
    _refused(user, run, body, f"{HISTORY} line 10 must be a JSON object, got list")
    missing = httpx.post(stream_url(user, "nosuchrun"), json=body, auth=user.auth, timeout=30.0)
    assert missing.status_code == 400  # a bad post is refused before the run is looked up
    assert _state(user, run)[2] == 0


def test_exports_of_large_posts_equal_the_graphql_pages(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="parts")
    rows = tricky_rows(12_000)
    log_history(user, run, rows[:6_000], chunk=6_000)  # exported by the exporter thread
    last = seeding.stream(  # the last post, exported before it is answered
        user, run, {HISTORY: rows_text(rows[6_000:])}, offsets={HISTORY: 6_000}, complete=True
    )
    assert last.status_code == 200
    tables = export_tables(parquet_urls(user, run))
    assert sum(table.num_rows for table in tables) == 12_000
    assert live_steps(user, run) == []
    exported = run.scan_history().to_pandas()
    same_frames(exported, run.scan_history().to_pandas(parquet=False))
    assert_logged(exported, rows)


def test_a_lone_surrogate_in_a_later_part_is_400_and_writes_nothing(user: User) -> None:
    run = create_run(user)
    lines = _lines(0)
    lines[6_000] = '{"_step": 6010, "s": "a\ud800b"}'  # decodes, but is no storable text
    body = json.dumps({"files": {HISTORY: {"offset": 0, "content": lines}}})
    response = httpx.post(stream_url(user, run), content=body, auth=user.auth, timeout=30.0)
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["errors"][0]["message"]
    assert _state(user, run)[2] == 0
