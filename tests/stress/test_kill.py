"""Crash safety: SIGKILL `runapi serve` in the middle of file_stream ingest and uploads,
restart it on the same data dir, re-send from the last acknowledged offset as the W&B SDK
does, and check that every acknowledged row and file is there, none duplicated.

    .venv/bin/pytest tests/stress -q     (RUNAPI_KILL_CYCLES sets the number of kills)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from conftest import load_operation
from databases import read
from hardening import new_port, spawn_server

from runapi_server.users import create_user

CYCLES = int(os.environ.get("RUNAPI_KILL_CYCLES", "4"))
TOTAL_ROWS = 20_000
CHUNK = 50
ENTITY, PROJECT, RUN = "killer", "crash", "run1"


@dataclass
class Progress:
    """What the server acknowledged (survives restarts: the client's view)."""

    acked_offset: int = 0
    files: dict[str, str] = field(default_factory=dict)  # name -> md5 of acked upload
    upload_index: int = 0


def _row(step: int) -> str:
    return json.dumps({"_step": step, "loss": 1.0 / (step + 1), "text": "x" * (step % 40)})


def _gql(client: httpx.Client, name: str, variables: dict[str, object]) -> dict[str, object]:
    response = client.post("/graphql", json={"query": load_operation(name), "variables": variables})
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body
    data: dict[str, object] = body["data"]
    return data


def _stream(client: httpx.Client, progress: Progress, stop: threading.Event) -> None:
    url = f"/files/{ENTITY}/{PROJECT}/{RUN}/file_stream"
    while not stop.is_set() and progress.acked_offset < TOTAL_ROWS:
        start = progress.acked_offset
        rows = [_row(s) for s in range(start, min(start + CHUNK, TOTAL_ROWS))]
        body = {"files": {"wandb-history.jsonl": {"offset": start, "content": rows}}}
        try:
            response = client.post(url, json=body)
        except httpx.HTTPError:
            return  # the server died: this chunk is not acknowledged
        if response.status_code != 200:
            return
        progress.acked_offset = start + len(rows)


def _upload(client: httpx.Client, progress: Progress, stop: threading.Event) -> None:
    while not stop.is_set():
        name = f"ckpt/{progress.upload_index:05d}.bin"
        data = os.urandom(random.randint(1, 300_000))
        variables = {
            "input": {"entityName": ENTITY, "projectName": PROJECT, "runName": RUN, "files": [name]}
        }
        try:
            payload = _gql(client, "create_run_files", variables)["createRunFiles"]
            url = payload["files"][0]["uploadUrl"]  # type: ignore[index]
            response = httpx.put(url, content=data, timeout=30)
        except httpx.HTTPError:
            return
        if response.status_code != 200:
            return
        progress.files[name] = base64.b64encode(hashlib.md5(data).digest()).decode()
        progress.upload_index += 1


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return spawn_server(data_dir, port, data_dir.parent / "kill-serve.log")


def _client(port: int, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=("api", key), timeout=30)


def test_sigkill_mid_ingest_loses_no_acknowledged_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = create_user(data_dir, ENTITY)
    progress = Progress()
    port = new_port()
    proc = _serve(data_dir, port)
    try:
        with _client(port, key) as client:
            upsert = {"entityName": ENTITY, "modelName": PROJECT, "name": RUN}
            _gql(client, "upsert_run", {"input": upsert})
        for _cycle in range(CYCLES):
            stop = threading.Event()
            with _client(port, key) as streamer, _client(port, key) as uploader:
                workers = [
                    threading.Thread(target=_stream, args=(streamer, progress, stop)),
                    threading.Thread(target=_upload, args=(uploader, progress, stop)),
                ]
                for worker in workers:
                    worker.start()
                time.sleep(random.uniform(0.5, 2.0))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                stop.set()
                for worker in workers:
                    worker.join(timeout=60)
                    assert not worker.is_alive()
            port = new_port()
            proc = _serve(data_dir, port)  # restart on the same data dir
        # After the last restart: the SDK re-sends from its last acknowledged offset.
        with _client(port, key) as client:
            _stream(client, progress, threading.Event())
            assert progress.acked_offset == TOTAL_ROWS
            _check(client, data_dir, progress)
    finally:
        proc.kill()
        proc.wait()


def _check(client: httpx.Client, data_dir: Path, progress: Progress) -> None:
    key = {"entity": ENTITY, "project": PROJECT, "name": RUN}
    run = _gql(client, "get_run", key)["project"]["run"]  # type: ignore[index]
    assert run["historyLineCount"] == TOTAL_ROWS  # type: ignore[index]
    conn = read(data_dir)
    rows = conn.execute("SELECT line_no, step, row FROM history ORDER BY line_no").tuples()
    assert [r[0] for r in rows] == list(range(TOTAL_ROWS))  # each line once, none missing
    assert all(r[1] == r[0] and r[2] == _row(r[0]) for r in rows)
    stored = dict(conn.execute("SELECT name, md5 FROM files WHERE size IS NOT NULL").tuples())
    for name, md5 in progress.files.items():
        assert stored.get(name) == md5, f"acknowledged upload {name} lost or changed"
    # Every stored upload's bytes are on disk and match.
    for name in progress.files:
        response = client.get(f"/storage/files/{ENTITY}/{PROJECT}/{RUN}/{name}")
        assert response.status_code == 200
        digest = base64.b64encode(hashlib.md5(response.content).digest()).decode()
        assert digest == progress.files[name]
