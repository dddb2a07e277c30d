"""The fast paths: bulk history fetch, columnar frames, chunked ingest parsing."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import User
from seeding import close_apis, finish, log_history, make_api, new_run, steps

import runapi
from runapi._json import ColumnBuilder
from runapi._paths import RunPath
from runapi_server import history

__all__ = ["close_apis"]


class CountingTransport(httpx.BaseTransport):
    """Counts in-flight GraphQL requests; answers the first `throttle` with 429."""

    def __init__(self, throttle: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.throttle = throttle
        self.throttled = 0
        self.total = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if self.throttled < self.throttle:
                self.throttled += 1
                return httpx.Response(429, headers={"Retry-After": "0"}, text="slow down")
            self.in_flight += 1
            self.total += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.01)
            return self.inner.handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def runs(user: User) -> list[runapi.Run]:
    api = make_api(user)
    made = []
    for i in range(6):
        run = new_run(api, user, project="bulk")
        log_history(user, run, steps(40 + i))
        finish(user, run)
        made.append(run)
    return made


def test_history_frames_match_one_by_one(user: User, runs: list[runapi.Run]) -> None:
    frames = runapi.history_frames(runs, samples=10, keys=["loss"])
    assert len(frames) == len(runs)
    for run, frame in zip(runs, frames, strict=True):
        pd.testing.assert_frame_equal(frame, run.history(samples=10, keys=["loss"]))
    full = runapi.history_frames(runs, samples=None, max_workers=2)
    assert [len(f) for f in full] == [40 + i for i in range(6)]
    assert runapi.history_frames([], samples=5) == []


def test_history_frames_bounded_and_retry_429(user: User, runs: list[runapi.Run]) -> None:
    transport = CountingTransport(throttle=2)
    api = make_api(user, transport=transport)
    mine = [api.run("/".join(r.path)) for r in runs]
    transport.peak = 0
    frames = runapi.history_frames(mine, samples=5, max_workers=3)
    assert transport.throttled == 2  # answered 429, retried by the RetryTransport
    assert 1 < transport.peak <= 3
    assert [len(f) for f in frames] == [5] * 6


def _mixed_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Rows with NaN / Infinity values and keys that come and go."""
    rows = steps(n)
    for row in rows:
        step = row["_step"]
        if step % 3 == seed % 3:
            row["loss"] = math.nan
        if step % 5 == 0:
            del row["acc"]
        if step % 7 == seed % 7:
            row["extra"] = math.inf if step % 2 else -step
    return rows


def test_history_frames_batched_equal_history(user: User) -> None:
    api = make_api(user)
    made = []
    for i in range(7):
        run = new_run(api, user, project="bulk-a" if i % 2 else "bulk-b")
        log_history(user, run, _mixed_rows(30 + 3 * i, seed=i))
        finish(user, run)
        made.append(run)
    # two projects, interleaved, one run twice; a fresh Api so the runs come from listings
    other = make_api(user)
    listed = {r.id: r for p in ("bulk-a", "bulk-b") for r in other.runs(f"{user.entity}/{p}")}
    targets = [listed[r.id] for r in made] + [listed[made[0].id]]
    for keys in (None, ["loss"], ["acc", "extra"], ["_step"], ["missing"]):
        for workers in (1, 3, 8):
            frames = runapi.history_frames(targets, samples=12, keys=keys, max_workers=workers)
            assert len(frames) == len(targets)
            for run, frame in zip(targets, frames, strict=True):
                expected = run.history(samples=12, keys=keys)
                pd.testing.assert_frame_equal(frame, expected)
    frames = runapi.history_frames(targets, samples=500)
    assert [len(f) for f in frames] == [30 + 3 * i for i in range(7)] + [30]
    assert frames[0]["loss"].isna().any()
    # batched: one request per project when one worker reads them
    transport = CountingTransport()
    counted = make_api(user, transport=transport)
    mine = [r for p in ("bulk-a", "bulk-b") for r in counted.runs(f"{user.entity}/{p}")]
    transport.total = 0
    runapi.history_frames(mine, samples=12, max_workers=1)
    assert transport.total == 2


def test_history_frames_missing_run(user: User, runs: list[runapi.Run]) -> None:
    api = make_api(user)
    gone = new_run(api, user, project="bulk")
    gone.delete()
    with pytest.raises(runapi.RunNotFoundError, match=gone.id):
        runapi.history_frames([*runs, gone], samples=5)
    with pytest.raises(runapi.RunNotFoundError, match=gone.id):
        runapi.history_frames([gone, *runs], samples=5, keys=["loss"])


def test_history_frames_other_entity_not_found(user: User, other_user: User) -> None:
    mine = new_run(make_api(user), user, project="bulk")
    theirs = make_api(other_user)
    foreign = runapi.Run(theirs._ctx, RunPath(user.entity, "bulk", mine.id))
    with pytest.raises(runapi.RunNotFoundError, match=mine.id):
        runapi.history_frames([foreign], samples=5)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_history_frames_bad_workers(runs: list[runapi.Run], bad: Any) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        runapi.history_frames(runs, max_workers=bad)


def test_column_builder_matches_records() -> None:
    pages = [
        [{"_step": 0, "a": 1.0}, {"_step": 1, "a": math.nan}],
        [{"_step": 2, "b": {"x": [1]}}, {"a": math.inf, "_step": 3}],
        [{"_step": 4, "a": 2.0, "c": "s"}],
    ]
    columns = ColumnBuilder()
    for page in pages:
        columns.add(page)
    frame = columns.to_pandas()
    rows = [row for page in pages for row in page]
    expected = pd.DataFrame({k: [r.get(k) for r in rows] for k in ["_step", "a", "b", "c"]})
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["b"].tolist() == [None, None, {"x": [1]}, None, None]
    assert math.isnan(frame["a"][1]) and frame["a"][3] == math.inf
    assert len(ColumnBuilder().to_pandas()) == 0


def test_parse_history_counts_like_row_by_row() -> None:
    texts = [
        '{"_step": 0, "a": 1, "b": {"_type": "histogram"}}',
        '{"_step": 1, "a": 1.5, "b": {"k": 1}}',
        '{"_step": 2, "a": NaN, "c": [1], "d": null, "e": true, "f": "s"}',
        '{"a": 2, "_step": 3}',
    ]
    chunk = history.parse_history("wandb-history.jsonl", 10, texts)
    assert chunk.steps == [0, 1, 2, 3]
    assert [line.line_no for line in chunk.lines] == [10, 11, 12, 13]
    assert chunk.keys[0] == '["_step", "a", "b"]' and chunk.keys[3] == '["_step", "a"]'

    expected: Counter[tuple[str, str]] = Counter()
    for text in texts:
        for key, value in json.loads(text).items():
            expected[(key, history.value_type(value))] += 1
    assert chunk.type_counts == expected


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (['{"_step": 0}', "{bad"], "line 6 is not valid JSON"),
        (['{"_step": 0}', "[1]"], "line 6 must be a JSON object"),
        (['{"_step": 0}', '{"_step": "x"}'], "line 6: _step must be an integer"),
    ],
)
def test_parse_history_names_bad_line(texts: list[str], message: str) -> None:
    with pytest.raises(history.RowError, match=message):
        history.parse_history("wandb-history.jsonl", 5, texts)


@pytest.mark.parametrize(
    ("texts", "steps"),
    [
        (['{"_step": 4, "a": 1, "b": "x"}', '{"b": "y", "a": 2.5, "_step": 5}'], [4, 5]),
        (['{"_step": 4.0, "a": 1}', '{"_step": 5, "a": {"_type": "histogram"}}'], [4, 5]),
        (['{"a": 1, "b": null}', '{"b": true, "a": [1]}'], [10, 11]),
        (["{}", "{}"], [10, 11]),
    ],
)
def test_parse_history_one_shape_columns_match_the_rows(texts: list[str], steps: list[int]) -> None:
    """Rows of one key set (in any key order) keep columns in the first row's key order;
    steps, type counts and the export table are those of the rows read one by one."""
    from runapi_server import parquet_tables

    chunk = history.parse_history("wandb-history.jsonl", 10, texts)
    rows = [json.loads(text) for text in texts]
    assert chunk.steps == steps
    assert chunk.columns is not None
    names, columns = chunk.columns
    assert names == tuple(rows[0])
    assert [list(column) for column in columns] == [[r[n] for r in rows] for n in names]
    expected = Counter((k, history.value_type(v)) for row in rows for k, v in row.items())
    assert chunk.type_counts == expected
    assert len(set(chunk.keys)) == 1 and json.loads(chunk.keys[0]) == sorted(names)
    from_columns = parquet_tables.exact_table(chunk.rows, chunk.texts, chunk.columns)
    from_rows = parquet_tables.exact_table(chunk.rows, chunk.texts, None)
    assert from_columns.equals(from_rows) and from_columns.schema == from_rows.schema


def test_parse_history_rows_of_one_size_but_other_keys_have_no_columns() -> None:
    chunk = history.parse_history("wandb-history.jsonl", 0, ['{"a": 1}', '{"b": 2}'])
    assert chunk.columns is None
    assert chunk.keys == ['["a"]', '["b"]'] and chunk.steps == [0, 1]
    assert chunk.type_counts == Counter({("a", "number"): 1, ("b", "number"): 1})


def test_gc_paused_restores_the_collector_state() -> None:
    import gc

    assert gc.isenabled()
    with history.gc_paused():
        assert not gc.isenabled()
        with history.gc_paused():  # nested (another thread's pause): stays off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with history.gc_paused():
            pass
        assert not gc.isenabled()  # left off by someone else: not turned on
    finally:
        gc.enable()
    with pytest.raises(ValueError), history.gc_paused():
        raise ValueError("bad chunk")
    assert gc.isenabled()
