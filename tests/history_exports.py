"""Shared by the parquet export tests: tricky rows, export reads, frame checks."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import User, load_operation

import runapi


def tricky_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in range(start, start + n):
        row: dict[str, Any] = {"_step": step, "loss": 1.0 / (step + 1), "count": step * 3}
        if step % 7 == 0:
            row["loss"] = math.nan
        if step % 11 == 0:
            row["loss"] = -math.inf if step % 2 else math.inf
        if step % 5 == 0:
            row["hist"] = {"_type": "histogram", "bins": [0, 1, step], "values": [step, 2]}
        if step % 3 == 0:
            row["tag"] = f"t{step}"
        row["flag"] = step % 2 == 0
        row["big"] = 2**60 + step
        row["vec"] = [step * 0.5, math.nan if step % 2 else -math.inf, None]
        row["deep"] = {"x": step, "y": {"z": [[step], []], "w": None if step % 3 else "s"}}
        rows.append(row)
    return rows


def with_mixed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` plus a key no parquet column holds exactly (a list, a null, an int)."""
    for row in rows:
        step = row["_step"]
        row["mixed"] = [step, "x"] if step % 4 == 0 else (None if step % 4 == 1 else step)
    return rows


def export_tables(urls: list[str]) -> list[pa.Table]:
    return [pq.read_table(io.BytesIO(httpx.get(url).content)) for url in urls]


def parquet_history(user: User, run: runapi.Run) -> dict[str, Any]:
    """The run's `parquetHistory` (export URLs, liveData of `_step`), over raw GraphQL."""
    body = {
        "query": load_operation("get_run_parquet_history"),
        "variables": {
            "entity": run.entity,
            "project": run.project,
            "name": run.id,
            "liveKeys": ["_step"],
        },
    }
    with user.http() as client:
        data = client.post("/graphql", json=body).json()
    assert not data.get("errors"), data
    found: dict[str, Any] = data["data"]["project"]["run"]["parquetHistory"]
    return found


def live_steps(user: User, run: runapi.Run) -> list[int]:
    return [r["_step"] for r in parquet_history(user, run)["liveData"]]


def assert_logged(frame: pd.DataFrame, rows: list[dict[str, Any]]) -> None:
    """Each cell of `frame` is exactly the value logged (same JSON text: ints stay ints,
    NaN and infinities kept); a key a row lacks is a null cell."""
    assert len(frame) == len(rows)
    for got, row in zip(frame.to_dict("records"), rows, strict=True):
        for key, value in got.items():
            if key in row:
                assert json.dumps(value) == json.dumps(row[key]), (row["_step"], key)
            else:
                assert value is None or (isinstance(value, float) and math.isnan(value))


def parquet_urls(user: User, run: runapi.Run) -> list[str]:
    urls: list[str] = parquet_history(user, run)["parquetUrls"]
    return urls


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
