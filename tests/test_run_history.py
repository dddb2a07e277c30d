"""history() and scan_history() over history seeded through the file stream."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import User
from seeding import close_apis, finish, log_events, log_history, make_api, new_run, steps, stream

import runapi

__all__ = ["close_apis"]


@pytest.fixture
def seeded(user: User) -> runapi.Run:
    """A run with 2,500 history rows (steps 0..2499) and 10 system-metrics rows."""
    api = make_api(user)
    run = new_run(api, user, project="hist")
    log_history(user, run, steps(2500))
    log_events(
        user, run, [{"_runtime": i, "_timestamp": i, "system.cpu": 10 + i} for i in range(10)]
    )
    run.load(force=True)
    return run


def test_history_sampled_dataframe(seeded: runapi.Run) -> None:
    assert seeded.lastHistoryStep == 2499
    df = seeded.history()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 500  # exactly `samples` rows from 2,500, first and last kept
    assert {"_step", "loss", "acc"} <= set(df.columns)
    assert df["_step"].iloc[0] == 0 and df["_step"].iloc[-1] == 2499
    assert df["_step"].is_monotonic_increasing


def test_history_list_and_keys(seeded: runapi.Run) -> None:
    rows = seeded.history(samples=20, pandas=False)
    assert isinstance(rows, list) and len(rows) == 20
    assert isinstance(rows[0], dict)
    keyed = seeded.history(samples=50, keys=["loss"], pandas=False)
    assert len(keyed) == 50
    assert set(keyed[0]) == {"loss", "_step"}
    df = seeded.history(samples=10, keys=["acc"], x_axis="_runtime")
    assert set(df.columns) == {"acc", "_runtime"}


def test_history_system_stream(seeded: runapi.Run) -> None:
    rows = seeded.history(stream="system", pandas=False)
    assert [r["system.cpu"] for r in rows] == [10 + i for i in range(10)]
    df = seeded.history(stream="system", samples=5)
    assert len(df) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"samples": 0},
        {"samples": -1},
        {"samples": True},
        {"samples": "10"},
        {"stream": "events"},
        {"keys": "loss"},
        {"keys": ["loss", 3]},
        {"x_axis": ""},
    ],
)
def test_history_bad_arguments_raise(seeded: runapi.Run, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        seeded.history(**kwargs)  # type: ignore[call-overload]


def test_scan_history_every_row_once(seeded: runapi.Run) -> None:
    scan = seeded.scan_history(page_size=300)
    assert isinstance(scan, runapi.HistoryScan)
    got = [row["_step"] for row in scan]
    assert got == list(range(2500))
    # pages are bounded by page_size
    assert max(len(page) for page in scan.pages()) <= 300


def test_scan_history_keys_and_window(seeded: runapi.Run) -> None:
    rows = list(seeded.scan_history(keys=["loss"], page_size=100, min_step=250, max_step=760))
    assert [r["_step"] for r in rows] == list(range(250, 760))
    assert set(rows[0]) == {"loss", "_step"}
    assert rows[0]["loss"] == pytest.approx(1 / 251)


def test_scan_history_is_lazy(seeded: runapi.Run) -> None:
    it = iter(seeded.scan_history(page_size=10))
    assert next(it)["_step"] == 0
    assert next(it)["_step"] == 1


def test_scan_to_pandas_columnar(seeded: runapi.Run) -> None:
    df = seeded.scan_history(page_size=1000).to_pandas()
    assert len(df) == 2500
    assert list(df["_step"]) == list(range(2500))


def test_scan_bad_arguments(seeded: runapi.Run) -> None:
    for kwargs in ({"page_size": 0}, {"min_step": -1}, {"keys": "loss"}):
        with pytest.raises(ValueError):
            seeded.scan_history(**kwargs)


def test_non_finite_and_sparse_values(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="nan")
    rows: list[dict[str, Any]] = [
        {"_step": 0, "a": float("nan")},
        {"_step": 1, "a": float("inf"), "b": "text"},
        {"_step": 2, "a": float("-inf"), "c": {"_type": "histogram", "bins": [1, 2]}},
    ]
    log_history(user, run, rows)
    got = list(run.scan_history())
    assert math.isnan(got[0]["a"])
    assert got[1]["a"] == math.inf and got[1]["b"] == "text"
    assert got[2]["a"] == -math.inf and got[2]["c"]["_type"] == "histogram"
    df = run.scan_history().to_pandas()
    assert list(df.columns) == ["_step", "a", "b", "c"]
    assert df["b"].isna().tolist() == [True, False, True]
    assert len(run.history(pandas=False)) == 3


def test_resent_chunk_does_not_duplicate_rows(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="resend")
    log_history(user, run, steps(5))
    log_history(user, run, steps(5))  # the SDK re-sends a failed chunk at the same offset
    log_history(user, run, steps(3, start=5), offset=5)
    assert [r["_step"] for r in run.scan_history(page_size=2)] == list(range(8))


def test_empty_history(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="empty")
    assert list(run.scan_history()) == []
    assert run.scan_history().to_pandas().empty
    assert run.history(pandas=False) == []
    assert run.history().empty
    assert run.lastHistoryStep == -1


def test_summary_from_file_stream(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="sum")
    stream(user, run, {"wandb-summary.json": ['{"best": 0.9}']}).raise_for_status()
    run.load(force=True)
    assert run.summary == {"best": 0.9}


def test_missing_run_history_raises(user: User) -> None:
    api = make_api(user)
    ghost = runapi.Run(api._ctx, runapi._paths.RunPath(user.entity, "none", "ghost"))
    with pytest.raises(runapi.RunNotFoundError):
        ghost.history()
    with pytest.raises(runapi.RunNotFoundError):
        list(ghost.scan_history())


def test_scan_to_pandas_pages_match_the_rows(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="exact")
    rows: list[dict[str, Any]] = [{"_step": i, "a": i / 4, "n": i, "s": f"v{i}"} for i in range(7)]
    rows[2]["a"] = float("nan")
    rows[3]["n"] = 2**64 + 1
    rows[4]["a"] = float("-inf")
    rows[5] = {"_step": 5, "n": -(2**63) - 1, "c": {"deep": [2**70]}}
    rows[6]["b"] = True
    log_history(user, run, rows)
    expected = pd.DataFrame(
        {k: [r.get(k) for r in rows] for k in ["_step", "a", "n", "s", "c", "b"]}
    )
    for page_size in (1, 2, 3, 100):
        df = run.scan_history().to_pandas(parquet=False, page_size=page_size)
        pd.testing.assert_frame_equal(df, expected)
        assert df["n"][3] == 2**64 + 1 and df["n"][5] == -(2**63) - 1
        assert df["c"][5] == {"deep": [2**70]}
    one_page = run.scan_history(max_step=2).to_pandas(parquet=False)
    assert one_page["_step"].dtype == "int64" and one_page["a"].dtype == "float64"


def test_sampled_history_keeps_exact_values(user: User) -> None:
    """`history()` (frame or rows, with or without keys) reads back what was logged:
    NaN, infinities, ints beyond 64 bits, nested values, unicode; the server's one-call
    decoding of the sampled rows falls back to the stdlib where orjson could be inexact."""
    api = make_api(user)
    run = new_run(api, user, project="exact")
    rows: list[dict[str, Any]] = [
        {"_step": i, "a": i / 4, "n": i, "s": f"ü{i}\U0001f600", "c": {"d": [i, 0.5]}}
        for i in range(6)
    ]
    rows[1]["a"] = float("nan")
    rows[2]["n"] = 2**64 + 1
    rows[3]["a"] = float("inf")
    rows[4]["n"] = -(2**63) - 1
    rows[5]["c"] = {"d": [2**70, float("-inf")]}
    log_history(user, run, rows)
    text = json.dumps(rows)
    assert json.dumps(run.history(pandas=False)) == text
    for keys in (["n"], ["c"], ["a", "s"]):
        picked = [{k: r[k] for k in [*keys, "_step"]} for r in rows]
        assert json.dumps(run.history(keys=keys, pandas=False)) == json.dumps(picked)
        frame = run.history(keys=keys)
        assert json.dumps(frame.to_dict("records")) == json.dumps(picked)
    frame = run.history()
    assert json.dumps(frame.to_dict("records")) == text
    assert frame["n"][2] == 2**64 + 1 and frame["c"][5] == {"d": [2**70, float("-inf")]}
    plain = run.history(keys=["s"])
    assert list(plain["s"]) == [r["s"] for r in rows]


class HistoryRequests(httpx.BaseTransport):
    """Counts `GetRunHistory` requests on the way to the real server."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.windows: list[tuple[int, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read() or b"{}")
        if body.get("operationName") == "GetRunHistory":
            variables = body["variables"]
            self.windows.append((variables["minStep"], variables["maxStep"]))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_iterating_a_scan_reads_growing_windows(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Iteration doubles its windows while rows are small (up to 16x `page_size` steps)
    and keeps `page_size` windows when they hold many values; rows come back exact."""
    from runapi import _history

    transport = HistoryRequests()
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="grow")
    rows = steps(450)
    rows[7]["loss"] = math.nan
    log_history(user, run, rows)
    got = list(run.scan_history(page_size=10))
    assert json.dumps(got) == json.dumps(rows)
    sizes = [b - a for a, b in transport.windows]
    assert sizes[:6] == [10, 20, 40, 80, 160, 140] and len(sizes) == 6
    transport.windows.clear()
    monkeypatch.setattr(_history, "ITER_VALUES", 99)  # 10 rows of 5 values are "big"
    assert json.dumps(list(run.scan_history(page_size=10))) == json.dumps(rows)
    assert {b - a for a, b in transport.windows} == {10} and len(transport.windows) == 45


def test_history_dotted_keys_reach_nested_values(user: User) -> None:
    """`keys=["grad.norm"]` picks `{"grad": {"norm": x}}` values (as `wandb.log` sends
    nested dicts); a top-level key literally named "grad.norm" wins; rows whose nested
    value is missing are left out, as rows lacking a top-level key are."""
    api = make_api(user)
    run = new_run(api, user, project="nested")
    rows: list[dict[str, Any]] = [
        {"_step": 0, "grad": {"norm": 0.5, "max": 2}},
        {"_step": 1, "grad": {"norm": 0.25}, "loss": 1.0},
        {"_step": 2, "loss": 0.5},  # no grad at all
        {"_step": 3, "grad": 7},  # grad is not an object
        {"_step": 4, "grad": {"max": 3}},  # no grad.norm
        {"_step": 5, "grad": {"norm": 0.125}, "grad.norm": "literal"},
        {"_step": 6, "a": {"b.c": {"d": 1}}},
    ]
    log_history(user, run, rows)
    df = run.history(keys=["grad.norm"])
    assert sorted(df.columns) == ["_step", "grad.norm"]
    assert df["_step"].tolist() == [0, 1, 5]
    assert df["grad.norm"].tolist() == [0.5, 0.25, "literal"]
    both = run.history(keys=["grad.norm", "grad.max"], pandas=False)
    assert both == [{"grad.norm": 0.5, "grad.max": 2, "_step": 0}]
    assert run.history(keys=["a.b.c.d"], pandas=False) == [{"a.b.c.d": 1, "_step": 6}]
    assert run.history(keys=["grad.nope"], pandas=False) == []
    scanned = list(run.scan_history(keys=["grad.norm"], page_size=2))
    assert scanned == [
        {"grad.norm": 0.5, "_step": 0},
        {"grad.norm": 0.25, "_step": 1},
        {"grad.norm": "literal", "_step": 5},
    ]
    frame = run.scan_history(keys=["grad.norm"]).to_pandas(parquet=False)
    assert frame["grad.norm"].tolist() == [0.5, 0.25, "literal"]
    clean = new_run(api, user, project="nested")
    log_history(user, clean, [{"_step": i, "grad": {"norm": i / 4}} for i in range(6)])
    finish(user, clean)
    exported = clean.scan_history(keys=["grad.norm"]).to_pandas()  # exports, then pages
    assert exported["grad.norm"].tolist() == [i / 4 for i in range(6)]
    assert exported["_step"].tolist() == list(range(6))
