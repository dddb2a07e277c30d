"""History, events, sampledHistory and historyKeys over real HTTP."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from conftest import User
from server_stream import create_run, gql_errors, history_lines, run_field, run_vars, stream

HISTORY = "wandb-history.jsonl"


def history(user: User, run: str, **args: Any) -> list[dict[str, Any]]:
    rows = run_field(user, "get_run_history", run, "history", **args)
    return [json.loads(row) for row in rows]


def sampled(user: User, run: str, *specs: dict[str, Any]) -> list[list[dict[str, Any]]]:
    encoded = [json.dumps(spec) for spec in specs]
    result: list[list[dict[str, Any]]] = run_field(
        user, "get_run_sampled_history", run, "sampledHistory", specs=encoded
    )
    return result


def steps(rows: list[dict[str, Any]]) -> list[int]:
    return [row["_step"] for row in rows]


def log_steps(user: User, run: str, step_list: list[int], offset: int = 0) -> None:
    rows = history_lines([{"_step": s, "loss": s / 10, "acc": -s} for s in step_list])
    assert stream(user, run, {HISTORY: (offset, rows)}).status_code == 200


@pytest.fixture
def hundred(user: User) -> str:
    """A run with steps 0, 2, 4, ..., 198 (100 rows)."""
    run = create_run(user)
    log_steps(user, run, list(range(0, 200, 2)))
    return run


def assert_spread(got: list[int], every: list[int], samples: int) -> None:
    assert len(got) == samples
    assert got[0] == every[0] and got[-1] == every[-1]
    assert got == sorted(set(got))
    positions = [every.index(s) for s in got]
    gaps = [b - a for a, b in pairwise(positions)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread by index


def test_windows_min_inclusive_max_exclusive(user: User, hundred: str) -> None:
    assert steps(history(user, hundred)) == list(range(0, 200, 2))
    assert steps(history(user, hundred, minStep=10, maxStep=20)) == [10, 12, 14, 16, 18]
    assert steps(history(user, hundred, minStep=11, maxStep=15)) == [12, 14]
    assert steps(history(user, hundred, minStep=190)) == [190, 192, 194, 196, 198]
    assert steps(history(user, hundred, maxStep=3)) == [0, 2]
    assert history(user, hundred, minStep=20, maxStep=20) == []
    assert history(user, hundred, minStep=500) == []
    assert steps(history(user, hundred, minStep=-(2**63), maxStep=2**62)) == list(range(0, 200, 2))


def test_sampling_keeps_first_and_last_and_spreads(user: User, hundred: str) -> None:
    every = list(range(0, 200, 2))
    for samples in (2, 7, 10, 33, 99):
        assert_spread(steps(history(user, hundred, samples=samples)), every, samples)
    assert steps(history(user, hundred, samples=1000)) == every
    assert steps(history(user, hundred, samples=1)) == [0]
    window = list(range(40, 120, 2))
    assert_spread(steps(history(user, hundred, samples=9, minStep=40, maxStep=120)), window, 9)


def test_sampling_without_step_order_or_with_gaps(user: User) -> None:
    run = create_run(user)
    log_steps(user, run, [5, 6, 7], offset=0)
    log_steps(user, run, [0, 1, 2], offset=10)  # steps go back and line numbers have a gap
    assert steps(history(user, run)) == [0, 1, 2, 5, 6, 7]
    assert_spread(steps(history(user, run, samples=3)), [0, 1, 2, 5, 6, 7], 3)
    assert steps(history(user, run, minStep=2, maxStep=6)) == [2, 5]
    assert steps(history(user, run, samples=2, minStep=1, maxStep=7)) == [1, 6]


def test_rows_without_step_use_the_line_number(user: User) -> None:
    run = create_run(user)
    stream(user, run, {HISTORY: (3, ['{"a": 1}', '{"a": 2}'])})
    assert history(user, run, minStep=4) == [{"a": 2}]


def test_sampled_history_all_keys_rule(user: User) -> None:
    run = create_run(user)
    rows = []
    for step in range(60):
        row: dict[str, Any] = {"_step": step, "loss": step * 1.0}
        if step % 3 == 0:
            row["val"] = step
        rows.append(row)
    stream(user, run, {HISTORY: (0, history_lines(rows))})
    both = sampled(user, run, {"keys": ["_step", "val", "loss"]})[0]
    assert [r["_step"] for r in both] == list(range(0, 60, 3))
    assert all(set(r) == {"_step", "val", "loss"} for r in both)
    loss_only = sampled(user, run, {"keys": ["loss"]})[0]
    assert loss_only == [{"loss": step * 1.0} for step in range(60)]
    few, windowed, nothing = sampled(
        user,
        run,
        {"keys": ["_step", "val"], "samples": 5},
        {"keys": ["_step", "val"], "minStep": 10, "maxStep": 31},
        {"keys": ["_step", "missing"]},
    )
    assert_spread([r["_step"] for r in few], list(range(0, 60, 3)), 5)
    assert [r["_step"] for r in windowed] == [12, 15, 18, 21, 24, 27, 30]
    assert nothing == []
    # a rewritten line moves to another key set: the per-key-set row counts follow
    stream(user, run, {HISTORY: (1, history_lines([{"_step": 1, "loss": 1.0, "val": 1}]))})
    (again,) = sampled(user, run, {"keys": ["_step", "val"], "samples": 7})
    assert_spread([r["_step"] for r in again], [0, 1, *range(3, 60, 3)], 7)


def test_sampled_history_on_uniform_rows(user: User, hundred: str) -> None:
    (rows,) = sampled(user, hundred, {"keys": ["_step", "loss"], "samples": 6})
    assert_spread([r["_step"] for r in rows], list(range(0, 200, 2)), 6)
    assert all(set(r) == {"_step", "loss"} for r in rows)


def test_history_keys_last_step_and_types(user: User) -> None:
    run = create_run(user)
    assert run_field(user, "get_run_history_keys", run, "historyKeys")["lastStep"] == -1
    lines = [
        '{"_step": 0, "loss": 1.5, "img": {"_type": "image-file", "path": "a.png"}}',
        '{"_step": 7, "loss": NaN, "note": "x"}',
    ]
    stream(user, run, {HISTORY: (0, lines)})
    stream(user, run, {HISTORY: (1, [lines[1]])})  # re-sent: counts unchanged
    keys = run_field(user, "get_run_history_keys", run, "historyKeys")
    assert keys["lastStep"] == 7
    assert keys["keys"]["loss"] == {"typeCounts": [{"type": "number", "count": 2}]}
    assert keys["keys"]["img"] == {"typeCounts": [{"type": "image-file", "count": 1}]}
    assert keys["keys"]["note"] == {"typeCounts": [{"type": "string", "count": 1}]}
    stream(user, run, {HISTORY: (1, ['{"_step": 7, "loss": "bad"}'])})  # replaced row
    keys = run_field(user, "get_run_history_keys", run, "historyKeys")
    assert "note" not in keys["keys"]
    assert keys["keys"]["loss"]["typeCounts"] == [
        {"type": "number", "count": 1},
        {"type": "string", "count": 1},
    ]


def test_events_sampling(user: User) -> None:
    run = create_run(user)
    events = [json.dumps({"system.gpu": i}) for i in range(50)]
    stream(user, run, {"wandb-events.jsonl": (0, events)})
    got = [json.loads(e)["system.gpu"] for e in run_field(user, "get_run_events", run, "events")]
    assert got == list(range(50))
    few = run_field(user, "get_run_events", run, "events", samples=6)
    assert_spread([json.loads(e)["system.gpu"] for e in few], list(range(50)), 6)


def test_parquet_history_live_data(user: User) -> None:
    run = create_run(user)
    stream(user, run, {HISTORY: (0, ['{"_step": 0, "a": 1}', '{"_step": 1, "b": 2}'])})
    result = run_field(
        user, "get_run_parquet_history", run, "parquetHistory", liveKeys=["_step", "a"]
    )
    assert result == {"parquetUrls": [], "liveData": [{"_step": 0, "a": 1}, {"_step": 1}]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("[1]", "must be a JSON object"),
        ('{"keys": []}', "non-empty list of strings"),
        ('{"keys": ["a"], "samples": -1}', "must not be negative"),
        ('{"keys": ["a"], "minStep": "x"}', "minStep must be an integer"),
        ("{bad", "malformed JSONString"),
    ],
)
def test_bad_specs_are_graphql_errors(user: User, hundred: str, spec: str, message: str) -> None:
    errors = gql_errors(user, "get_run_sampled_history", run_vars(user, hundred, specs=[spec]))
    assert errors and message in errors[0]


def test_negative_samples_is_an_error(user: User, hundred: str) -> None:
    errors = gql_errors(user, "get_run_history", run_vars(user, hundred, samples=-2))
    assert errors and "must not be negative" in errors[0]
