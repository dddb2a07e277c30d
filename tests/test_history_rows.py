"""Iterating `scan_history()` reads the parquet exports' columns as row dicts, with exactly
the values logged; where an export cannot say so (an int stored in a float column, an
older export) the rows come from GraphQL, from the first row not read yet."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import User
from history_exports import export_tables, parquet_urls, tricky_rows
from seeding import close_apis, finish, log_history, make_api, new_run

import runapi._history
from runapi._history_rows import exact_rows, table_rows
from runapi_server.parquet_tables import INT_FLOATS_KEY, merge_tables, rows_table

__all__ = ["close_apis"]


SMALL_SCAN_VALUES = runapi._history.SMALL_SCAN_VALUES


@pytest.fixture(autouse=True)
def rows_from_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs are small: without this, their scans would be read over GraphQL
    (`SMALL_SCAN_VALUES`), and these tests are about the rows read from exports."""
    monkeypatch.setattr(runapi._history, "SMALL_SCAN_VALUES", 0)


class PathCounter(httpx.BaseTransport):
    """The real transport, counting GraphQL requests and export downloads."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = "graphql" if path.endswith("/graphql") else "export" if "/history/" in path else ""
        with self._lock:
            self.counts[kind] += 1
            if b"GetRunParquetHistory" in request.content:
                self.counts["parquetHistory"] += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def finished_run(
    user: User, rows: list[dict[str, Any]], chunk: int
) -> tuple[runapi.Run, PathCounter]:
    """A new run that logged `rows` (posted `chunk` lines at a time) and finished, read
    through a `PathCounter` transport (returned with it)."""
    counter = PathCounter()
    api = make_api(user, transport=counter)
    run = new_run(api, user, project="rows")
    log_history(user, run, rows, chunk=chunk)
    finish(user, run)
    return run, counter


def exact_json(rows: list[dict[str, Any]]) -> list[str]:
    """Each row as JSON text with sorted keys: ints stay ints, NaN and infinities kept."""
    return [json.dumps(row, sort_keys=True) for row in rows]


def unicode_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    rows = tricky_rows(n, start)
    for row in rows:
        step = row["_step"]
        row["text"] = ["ünïcödé", "名前 ✓", "emoji 🎉", "line\u2028sep", ""][step % 5]
        row["neg_zero"] = -0.0
        row["whole_float"] = float(step)  # a float that is a whole number stays a float
    return rows


def test_iteration_reads_exports_with_logged_values(user: User) -> None:
    rows = unicode_rows(400)
    run, counter = finished_run(user, rows, chunk=100)
    (table,) = export_tables(parquet_urls(user, run))
    assert json.loads(table.schema.metadata[INT_FLOATS_KEY]) == []

    counter.counts.clear()
    got = list(run.scan_history(page_size=50))
    assert exact_json(got) == exact_json(rows)
    assert counter.counts["export"] == 1
    assert counter.counts["graphql"] == 2  # state and last step, parquetHistory: no pages
    assert math.copysign(1.0, got[3]["neg_zero"]) == -1.0
    assert type(got[4]["whole_float"]) is float and type(got[4]["count"]) is int
    assert "hist" not in got[1] and "tag" not in got[1]  # keys a row did not log
    paged = list(chain.from_iterable(run.scan_history(page_size=50).pages()))
    assert exact_json(got) == exact_json(paged)


def test_iteration_with_keys_and_steps_equals_graphql_pages(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="rows")
    log_history(user, run, unicode_rows(300), chunk=100)
    finish(user, run)
    for kwargs in (
        {"keys": ["hist"]},
        {"keys": ["tag", "text"]},
        {"keys": ["absent"]},
        {"min_step": 10, "max_step": 200},
        {"min_step": 299},
        {"max_step": 0},
    ):
        scan = run.scan_history(page_size=40, **kwargs)  # type: ignore[arg-type]
        paged = list(chain.from_iterable(scan.pages()))
        assert exact_json(list(scan)) == exact_json(paged), kwargs


def test_a_small_scan_is_read_over_graphql(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan of at most SMALL_SCAN_VALUES values (steps in range x the run's keys, or the
    requested ones) asks for no export plan and downloads nothing; above, exports. The
    rows are the same either way."""
    monkeypatch.setattr(runapi._history, "SMALL_SCAN_VALUES", SMALL_SCAN_VALUES)
    rows = unicode_rows(300)
    run, counter = finished_run(user, rows, chunk=100)
    counter.counts.clear()
    assert exact_json(list(run.scan_history())) == exact_json(rows)
    assert counter.counts["parquetHistory"] == counter.counts["export"] == 0
    width = len(set().union(*rows))
    monkeypatch.setattr(runapi._history, "SMALL_SCAN_VALUES", 50 * width)
    for max_step, exports in ((50, 0), (51, 1)):
        counter.counts.clear()
        got = list(run.scan_history(max_step=max_step))
        assert exact_json(got) == exact_json(rows[:max_step])
        assert counter.counts["export"] == exports, max_step
    counter.counts.clear()  # two keys requested: 3 values a row (the keys and _step)
    got = list(run.scan_history(keys=["loss", "count"], min_step=300 - 50 * width // 3))
    assert counter.counts["export"] == 0
    want = [{k: r[k] for k in ("loss", "count", "_step")} for r in rows[-(50 * width // 3) :]]
    assert exact_json(got) == exact_json(want)


def test_int_in_a_float_column_reads_back_as_an_int(user: User) -> None:
    rows = [{"_step": s, "lr": 0 if s % 3 == 0 else 0.5 * s, "n": s} for s in range(200)]
    run, counter = finished_run(user, rows, chunk=50)
    (table,) = export_tables(parquet_urls(user, run))
    assert pa.types.is_float64(table.schema.field("lr").type)
    assert json.loads(table.schema.metadata[INT_FLOATS_KEY]) == ["lr"]

    counter.counts.clear()
    got = list(run.scan_history())
    assert exact_json(got) == exact_json(rows)
    assert type(got[0]["lr"]) is int and type(got[1]["lr"]) is float
    assert counter.counts["export"] == 1
    assert counter.counts["graphql"] == 3  # state and last step, parquetHistory, a page
    # keys= leaving the column out reads the export alone
    counter.counts.clear()
    only_n = list(run.scan_history(keys=["n"]))
    assert only_n == [{"n": s, "_step": s} for s in range(200)]
    assert counter.counts["graphql"] == 2


def test_rows_after_an_inexact_part_come_from_graphql(user: User) -> None:
    """Parts that do not merge (a key switching type): the first is read from parquet,
    the second holds an int in a float column, so GraphQL reads from its first step."""
    from runapi_server import export_worker

    counter = PathCounter()
    api = make_api(user, transport=counter)
    run = new_run(api, user, project="rows")
    first = [{"_step": s, "k": f"s{s}", "x": 0.5} for s in range(10_000)]
    second = [{"_step": s, "k": s, "x": 1 if s % 2 else 0.25} for s in range(10_000, 10_200)]
    log_history(user, run, first, chunk=5_000)
    # the first part written before the second arrives: a part holding both would switch
    # type and keep the whole run live (the layout would depend on the exporter's lag)
    assert export_worker.wait_idle(user.server.data_dir)
    log_history(user, run, second, offset=len(first), chunk=100)
    finish(user, run)
    tables = export_tables(parquet_urls(user, run))
    assert [t.num_rows for t in tables] == [10_000, 200]
    assert [exact_rows(t) for t in tables] == [True, False]
    got = list(run.scan_history(min_step=9_990))
    assert exact_json(got) == exact_json(first[9_990:] + second)
    assert type(got[-1]["x"]) is int
    # a max_step inside the first export: the second is not downloaded
    counter.counts.clear()
    assert exact_json(list(run.scan_history(max_step=9_999))) == exact_json(first[:9_999])
    assert counter.counts["export"] == 1 and counter.counts["graphql"] == 2
    counter.counts.clear()
    assert len(list(run.scan_history(max_step=10_000))) == 10_000
    assert counter.counts["export"] == 1


def test_table_rows_drop_nulls_and_batch() -> None:
    texts = [
        json.dumps(r)
        for r in [{"_step": 0, "a": 1.5}, {"_step": 1, "b": "é"}, {"_step": 2, "a": math.nan}]
    ]
    table = rows_table(texts)
    assert exact_rows(table)
    batches = list(table_rows(table, batch_rows=2))
    assert [len(b) for b in batches] == [2, 1]
    got = list(chain.from_iterable(batches))
    assert got[:2] == [{"_step": 0, "a": 1.5}, {"_step": 1, "b": "é"}]
    assert list(got[2]) == ["_step", "a"] and math.isnan(got[2]["a"])
    assert not exact_rows(table.replace_schema_metadata({}))  # an older server's export


def test_int_floats_metadata_names_columns_at_any_depth() -> None:
    table = rows_table(
        [
            '{"_step": 0, "top": 1, "nest": {"v": [1, 2.5]}, "ok": {"v": [0.5]}, "i": 2}',
            '{"_step": 1, "top": 0.5, "nest": {"v": [0.5]}, "ok": {"v": [2.0]}, "i": 3}',
        ]
    )
    assert json.loads(table.schema.metadata[INT_FLOATS_KEY]) == ["top", "nest"]
    merged = merge_tables([rows_table(['{"x": 1, "y": 1}']), rows_table(['{"x": 0.5}'])])
    assert merged is not None
    assert json.loads(merged.schema.metadata[INT_FLOATS_KEY]) == ["x"]  # cast int64 -> float64
    older = rows_table(['{"x": 0.5}']).replace_schema_metadata({})
    unknown = merge_tables([rows_table(['{"x": 0.25}']), older])
    assert unknown is not None and INT_FLOATS_KEY not in (unknown.schema.metadata or {})


def test_export_parts_write_numbers_plain_and_strings_with_a_dictionary(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="rows")
    rows = [
        {"_step": s, "loss": 1.0 / (s + 1), "phase": ["train", "eval"][s % 2]} for s in range(300)
    ]
    log_history(user, run, rows, chunk=100)
    finish(user, run)
    (url,) = parquet_urls(user, run)
    metadata = pq.read_metadata(pa.BufferReader(httpx.get(url).content))
    chunks = {
        metadata.row_group(0).column(i).path_in_schema: metadata.row_group(0).column(i)
        for i in range(metadata.num_columns)
    }
    assert not chunks["_step"].has_dictionary_page and not chunks["loss"].has_dictionary_page
    assert chunks["phase"].has_dictionary_page
    assert exact_json(list(run.scan_history())) == exact_json(rows)


def test_a_run_still_logging_is_paged_without_asking_for_exports(user: User) -> None:
    counter = PathCounter()
    api = make_api(user, transport=counter)
    run = new_run(api, user, project="rows")
    rows = unicode_rows(250)
    log_history(user, run, rows, chunk=50)  # no last post: the run is still running
    counter.counts.clear()
    assert exact_json(list(run.scan_history(page_size=100))) == exact_json(rows)
    assert counter.counts["parquetHistory"] == 0 and counter.counts["export"] == 0
    assert counter.counts["graphql"] == 3  # state and last step, windows of 100 and 200


LEFT_SUSPENDED = """
import sys
import pandas  # noqa: F401  (a notebook's imports: pyarrow's pandas shim is loaded)
import runapi

api = runapi.Api(api_key=sys.argv[1], base_url=sys.argv[2])
rows = iter(api.run(sys.argv[3]).scan_history())
print(next(rows)["_step"])  # the next exports are being read when the interpreter exits
"""


def test_a_scan_left_suspended_does_not_crash_the_interpreter_at_exit(
    user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exports are read in worker threads, each part in one thread: when the parts were
    read with arrow's own thread pool too (`ParquetFile.read(use_threads=True)`), the
    process aborted at exit ("terminate called without an active exception") in most
    runs of this test."""
    from runapi_server import export_worker, parquet_export

    monkeypatch.setattr(parquet_export, "FLUSH_ROWS", 20_000)
    monkeypatch.setattr(parquet_export, "PART_ROWS", 20_000)
    api = make_api(user)
    run = new_run(api, user, project="rows")
    rows = [{"_step": s, "a": s * 0.5, "b": math.sqrt(s), "c": -s} for s in range(60_000)]
    for start in range(0, len(rows), 20_000):  # each part written before the next post
        log_history(user, run, rows[start : start + 20_000], offset=start, chunk=20_000)
        assert export_worker.wait_idle(user.server.data_dir)
    finish(user, run)
    assert len(parquet_urls(user, run)) == 3
    script = tmp_path / "suspended.py"
    script.write_text(LEFT_SUSPENDED)
    argv = [sys.executable, str(script), user.api_key, user.server.url, "/".join(run.path)]
    for _ in range(6):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, "0\n", "")
