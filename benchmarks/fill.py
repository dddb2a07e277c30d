"""Start the benchmark server and fill it through the wire protocol (GraphQL + file_stream)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """The local server in a subprocess on a free port, data in `data_dir`."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None, workers: int = 1) -> None:
        out = self._log.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("serve.py")),
                str(self.data_dir),
                str(self.port),
                str(workers),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self._log}")
            time.sleep(0.2)
        raise RuntimeError("server did not start in 60 s")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


class Filler:
    """Creates runs (upsertBucket) and streams history (file_stream) as user `entity`."""

    def __init__(self, url: str, key: str, entity: str) -> None:
        self.entity = entity
        self.client = httpx.Client(base_url=url, auth=("api", key), timeout=600)
        from runapi_generated.operations import UPSERT_RUN_GQL

        self._upsert = UPSERT_RUN_GQL

    def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body

    def create_run(
        self,
        project: str,
        name: str,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        state: str = "running",
    ) -> None:
        inp: dict[str, Any] = {
            "entityName": self.entity,
            "modelName": project,
            "name": name,
            "state": state,
        }
        if config is not None:
            inp["config"] = json.dumps({k: {"value": v, "desc": None} for k, v in config.items()})
        if summary is not None:
            inp["summaryMetrics"] = json.dumps(summary)
        self.gql(self._upsert, {"input": inp})

    def stream(
        self, project: str, run: str, lines: list[str], offset: int, complete: bool = False
    ) -> None:
        self.post(project, run, self.body(lines, offset, complete))

    @staticmethod
    def body(lines: list[str], offset: int, complete: bool = False) -> bytes:
        """A file_stream post of history ``lines`` from line ``offset``, encoded (so
        timings of `post` leave the client's JSON encoding out)."""
        body: dict[str, Any] = {
            "files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}
        }
        if complete:
            body.update(complete=True, exitcode=0)
        return json.dumps(body).encode()

    def post(self, project: str, run: str, body: bytes) -> None:
        response = self.client.post(
            f"/files/{self.entity}/{project}/{run}/file_stream",
            content=body,
            headers={"content-type": "application/json"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"file_stream: HTTP {response.status_code}: {response.text[:300]}")

    def finish(self, project: str, run: str) -> None:
        body = {"files": {}, "complete": True, "exitcode": 0}
        self.client.post(f"/files/{self.entity}/{project}/{run}/file_stream", json=body)


def history_lines(start: int, stop: int, metrics: int, seed: int = 0) -> list[str]:
    """Rows `_step`, `_runtime`, `_timestamp` and `m0..m{metrics-1}` (random floats)."""
    rnd = random.Random(seed * 1_000_003 + start)
    names = [f"m{i}" for i in range(metrics)]
    head = '{"_step": %d, "_runtime": %.3f, "_timestamp": %.3f'
    out = []
    for step in range(start, stop):
        parts = [head % (step, step * 0.01, 1.7e9 + step * 0.01)]
        parts.extend(f', "{n}": {rnd.random()!r}' for n in names)
        parts.append("}")
        out.append("".join(parts))
    return out


def sparse_lines(start: int, stop: int, seed: int = 0) -> list[str]:
    """A realistic training log: `_step`, `_runtime`, `_timestamp` and four train metrics
    every step, `val/loss` and `val/acc` every 50 steps, an occasional NaN loss."""
    rnd = random.Random(seed * 1_000_003 + start)
    head = '{"_step": %d, "_runtime": %.3f, "_timestamp": %.3f, "train/loss": %s'
    out = []
    for step in range(start, stop):
        loss = "NaN" if step % 997 == 13 else repr(rnd.random())
        parts = [head % (step, step * 0.01, 1.7e9 + step * 0.01, loss)]
        parts.append(f', "train/acc": {rnd.random()!r}, "train/lr": {1e-3 / (1 + step)!r}')
        parts.append(f', "train/grad_norm": {rnd.random() * 10!r}')
        if step % 50 == 0:
            parts.append(f', "val/loss": {rnd.random()!r}, "val/acc": {rnd.random()!r}')
        parts.append("}")
        out.append("".join(parts))
    return out


def fill_history(
    filler: Filler,
    project: str,
    run: str,
    rows: int,
    metrics: int,
    chunk: int = 20_000,
    lines_of: Callable[[int, int], list[str]] | None = None,
) -> float:
    """Create `run` and stream `rows` rows (`lines_of(start, stop)`, default
    `history_lines` with `metrics` metrics); returns ingest rows/s (posting time only:
    the request and the server's answer, not the client's JSON encoding)."""
    filler.create_run(project, run)
    posting = 0.0
    for start in range(0, rows, chunk):
        stop = min(start + chunk, rows)
        lines = lines_of(start, stop) if lines_of else history_lines(start, stop, metrics)
        body = filler.body(lines, start)
        t0 = time.perf_counter()
        filler.post(project, run, body)
        posting += time.perf_counter() - t0
    filler.finish(project, run)
    return rows / posting if posting else 0.0


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fill_runs_table(filler: Filler, project: str, runs: int, keys: int, workers: int = 4) -> None:
    """`runs` finished runs with `keys` config and `keys` summary keys each."""

    def one(i: int) -> None:
        rnd = random.Random(i)
        config = {
            f"c{k}": (rnd.random() if k % 2 else f"v{rnd.randrange(100)}") for k in range(keys)
        }
        summary = {f"s{k}": rnd.random() for k in range(keys)}
        filler.create_run(project, f"r{i:06d}", config, summary, state="finished")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(runs)))


def fill_bulk(filler: Filler, project: str, runs: int, rows: int, metrics: int = 5) -> None:
    """`runs` finished runs with `rows` history rows each."""

    def one(i: int) -> None:
        name = f"b{i:04d}"
        filler.create_run(project, name)
        filler.stream(project, name, history_lines(0, rows, metrics, seed=i), 0, complete=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(runs)))


def fill_many(filler: Filler, project: str, runs: int, rows: int, metrics: int = 5) -> None:
    """`runs` finished runs with `rows` history rows each, posted in 20,000-row chunks."""

    def one(i: int) -> None:
        fill_history(filler, project, f"m{i:04d}", rows, metrics)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(runs)))
