"""Full history through the server's parquet exports equals the GraphQL-pages path."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import User, load_operation
from seeding import close_apis, finish, log_history, make_api, new_run

import runapi
from runapi_server import parquet_export

__all__ = ["close_apis"]


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
        row["mixed"] = [step, "x"] if step % 4 == 0 else (None if step % 4 == 1 else step)
        row["flag"] = step % 2 == 0
        row["big"] = 2**60 + step
        rows.append(row)
    return rows


def parquet_urls(user: User, run: runapi.Run) -> list[str]:
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
    urls: list[str] = data["data"]["project"]["run"]["parquetHistory"]["parquetUrls"]
    return urls


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_exports_equal_graphql_pages(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(300)
    log_history(user, run, rows, chunk=100)
    finish(user, run)
    urls = parquet_urls(user, run)
    assert urls and all(u.startswith(user.server.url) for u in urls)
    exported = run.scan_history().to_pandas()
    paged = run.scan_history().to_pandas(parquet=False)
    same_frames(exported, paged)
    assert len(exported) == 300
    assert math.isnan(exported["loss"][7]) and exported["loss"][11] == -math.inf
    assert exported["loss"][22] == math.inf
    assert exported["hist"][5] == rows[5]["hist"] and exported["hist"][1] is None
    assert exported["mixed"][4] == [4, "x"] and exported["mixed"][5] is None
    assert exported["big"][3] == 2**60 + 3
    # keys and step windows agree too
    for kwargs in ({"keys": ["hist"]}, {"min_step": 10, "max_step": 200}, {"keys": ["tag"]}):
        same_frames(
            run.scan_history(**kwargs).to_pandas(),  # type: ignore[arg-type]
            run.scan_history(**kwargs).to_pandas(parquet=False),  # type: ignore[arg-type]
        )


def test_signed_export_urls_refuse_tampering(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(20))
    finish(user, run)
    (url,) = parquet_urls(user, run)
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403


def test_live_tail_after_export(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet_export, "EXPORT_MIN_ROWS", 50)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(120), chunk=40)
    assert len(run.scan_history().to_pandas()) == 120  # exports the 120 rows
    assert len(parquet_urls(user, run)) == 1
    log_history(user, run, tricky_rows(30, start=120), offset=120)
    (before,) = parquet_urls(user, run)  # 30 < 50: live, not exported
    frame = run.scan_history().to_pandas()
    same_frames(frame, run.scan_history().to_pandas(parquet=False))
    assert list(frame["_step"]) == list(range(150))
    # rewriting an exported line makes the exports stale: dropped, then made anew
    log_history(user, run, [{"_step": 5, "loss": 0.5}], offset=5)
    (after,) = parquet_urls(user, run)
    assert after.split("?")[0] != before.split("?")[0]
    assert httpx.get(before).status_code == 404
    assert run.scan_history().to_pandas()["loss"][5] == 0.5
    same_frames(run.scan_history().to_pandas(), run.scan_history().to_pandas(parquet=False))


def test_exports_switched_off(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNAPI_HISTORY_EXPORTS", "0")
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(40))
    finish(user, run)
    assert parquet_urls(user, run) == []
    assert len(run.scan_history().to_pandas()) == 40


class NoParquetField(httpx.BaseTransport):
    """A server without `parquetHistory`: answers that operation with GraphQL's error."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if b"GetRunParquetHistory" in request.read():
            self.refused += 1
            message = "Cannot query field 'parquetHistory' on type 'Run'."
            return httpx.Response(200, json={"errors": [{"message": message}], "data": None})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_falls_back_without_parquet_field(user: User) -> None:
    transport = NoParquetField()
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(60)
    log_history(user, run, rows)
    frame = run.scan_history().to_pandas()
    assert transport.refused == 1
    assert len(frame) == 60
    assert json.dumps(frame["hist"][5]) == json.dumps(rows[5]["hist"])
