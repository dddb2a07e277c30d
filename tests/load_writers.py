"""Concurrent writers for the concurrency tests (short in the normal suite, long in
tests/stress): file_stream writers and upsertBucket writers hammering one or several runs.

`run_load(user, seconds, writers=16, shared_run=True)` returns a `LoadResult`; `verify(...)`
checks that every acknowledged row is stored once, that no request failed (in particular
no "database is locked"), and that every run's summary is one whole written value.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from conftest import User, load_operation
from databases import read

PROJECT = "load"
CHUNK = 20
LINE_SPACING = 10_000_000
"""Each stream writer owns the line numbers [w * LINE_SPACING, (w + 1) * LINE_SPACING)."""


@dataclass
class LoadResult:
    acked_rows: dict[str, set[int]] = field(default_factory=dict)  # run -> acked line numbers
    summaries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # run -> written
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def _upsert(client: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"query": load_operation("upsert_run"), "variables": {"input": fields}}
    return client.post("/graphql", json=body)


def _stream_writer(user: User, run: str, writer: int, deadline: float, result: LoadResult) -> None:
    url = f"/files/{user.entity}/{PROJECT}/{run}/file_stream"
    base = writer * LINE_SPACING
    sent = 0
    with user.http() as client:
        while time.monotonic() < deadline:
            lines = list(range(base + sent, base + sent + CHUNK))
            rows = [json.dumps({"_step": n, "writer": writer, "v": n * 0.5}) for n in lines]
            summary = {"writer": writer, "rows": sent + CHUNK}
            body = {
                "files": {
                    "wandb-history.jsonl": {"offset": lines[0], "content": rows},
                    "wandb-summary.json": {"offset": 0, "content": [json.dumps(summary)]},
                }
            }
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                result.fail(f"stream writer {writer}: {type(exc).__name__}: {exc}")
                return
            with result.lock:
                result.requests += 1
            if response.status_code != 200:
                result.fail(f"stream writer {writer}: HTTP {response.status_code} {response.text}")
                return
            with result.lock:
                result.acked_rows.setdefault(run, set()).update(lines)
                result.summaries.setdefault(run, []).append(summary)
            sent += CHUNK


def _upsert_writer(user: User, run: str, writer: int, deadline: float, result: LoadResult) -> None:
    i = 0
    with user.http() as client:
        while time.monotonic() < deadline:
            summary = {"writer": writer, "i": i, "blob": "x" * (i % 50)}
            config = {f"w{writer}": {"value": i, "desc": None}}
            try:
                response = _upsert(
                    client,
                    entityName=user.entity,
                    modelName=PROJECT,
                    name=run,
                    summaryMetrics=json.dumps(summary),
                    config=json.dumps(config),
                    notes=f"writer {writer} update {i}",
                )
            except httpx.HTTPError as exc:
                result.fail(f"upsert writer {writer}: {type(exc).__name__}: {exc}")
                return
            with result.lock:
                result.requests += 1
            body = response.json() if response.status_code == 200 else None
            if body is None or body.get("errors"):
                result.fail(f"upsert writer {writer}: HTTP {response.status_code} {response.text}")
                return
            with result.lock:
                result.summaries.setdefault(run, []).append(summary)
            i += 1


def run_load(user: User, seconds: float, *, writers: int = 16, shared_run: bool) -> LoadResult:
    """`writers` threads (half file_stream, half upsertBucket) for `seconds`."""
    runs = ["shared"] if shared_run else [f"run{w}" for w in range(writers)]
    with user.http() as client:
        for run in runs:
            response = _upsert(client, entityName=user.entity, modelName=PROJECT, name=run)
            assert response.status_code == 200 and not response.json().get("errors")
    result = LoadResult()
    deadline = time.monotonic() + seconds
    threads = []
    for w in range(writers):
        run = runs[0] if shared_run else runs[w]
        target = _stream_writer if w % 2 == 0 else _upsert_writer
        threads.append(threading.Thread(target=target, args=(user, run, w, deadline, result)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
        assert not thread.is_alive(), "a writer hung"
    return result


def verify(user: User, result: LoadResult) -> None:
    """Every acked row stored exactly once; no failures; summaries whole written values."""
    assert not result.failures, result.failures[:5]
    assert result.requests > 0
    conn = read(user.server.data_dir)
    for run, acked in result.acked_rows.items():
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT history.line_no FROM history JOIN runs ON runs.id = history.run_id"
                " JOIN projects ON projects.id = runs.project_id"
                " WHERE projects.entity = ? AND projects.name = ? AND runs.name = ?",
                (user.entity, PROJECT, run),
            ).tuples()
        ]
        assert len(stored) == len(set(stored)), f"duplicated rows in {run}"
        missing = acked - set(stored)
        assert not missing, f"{len(missing)} acknowledged rows lost in {run}"
    variables = {"entity": user.entity, "project": PROJECT}
    with user.http() as client:
        for run, written in result.summaries.items():
            body = client.post(
                "/graphql",
                json={"query": load_operation("get_run"), "variables": {**variables, "name": run}},
            ).json()
            node = body["data"]["project"]["run"]
            summary = json.loads(node["summaryMetrics"])
            assert summary in written, f"summary of {run} is not one written value: {summary}"
            if run in result.acked_rows:
                count = node.get("historyLineCount")
                if count is not None:
                    assert count == len(result.acked_rows[run])
