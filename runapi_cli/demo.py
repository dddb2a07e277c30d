"""`runapi demo`: a throwaway local server, filled like real training runs, read back with runapi.

The demo starts the server in-process (uvicorn in a background thread) on a free loopback
port with a temporary data dir, creates a user, logs a few runs the way the W&B SDK does
(`upsertBucket` through the facade, history and summary through the SDK's `file_stream`
endpoint, files, an artifact), then tours the public `runapi` API. The temp dir is removed
at the end.
"""

from __future__ import annotations

import json
import math
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx
import pandas
import uvicorn

import runapi
from runapi_cli.serving import listen, url_for
from runapi_server.app import create_app
from runapi_server.users import create_user

ENTITY = "demo"
PROJECT = "mnist-demo"
STEPS = 3000
CHUNK = 500  # history lines per file_stream post, like the SDK's bulk posts


@dataclass(frozen=True)
class RunPlan:
    """One simulated training run."""

    run_id: str
    display_name: str
    lr: float
    optimizer: str
    tags: tuple[str, ...]
    speed: float  # how fast the loss falls
    fail_at: int | None = None  # diverges and exits with code 1 at this step


PLANS = (
    RunPlan("baseline", "baseline-sgd", 0.1, "sgd", ("baseline",), speed=4.0),
    RunPlan("adam-lr3", "adam lr=1e-3", 1e-3, "adam", ("adam", "candidate"), speed=7.0),
    RunPlan("adam-lr4", "adam lr=1e-4", 1e-4, "adam", ("adam",), speed=2.5),
    RunPlan("adam-lr2", "adam lr=1e-2", 1e-2, "adam", ("adam",), speed=8.0, fail_at=1800),
)


# ----------------------------------------------------------------------------- server


@contextmanager
def local_server(data_dir: Path) -> Iterator[str]:
    """The runapi server on a free loopback port in a background thread; yields its URL."""
    sock = listen("127.0.0.1", 0)
    url = url_for(sock, "127.0.0.1")
    config = uvicorn.Config(
        create_app(data_dir, public_url=url), log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local server did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# ----------------------------------------------------------------------------- logging


def _history(plan: RunPlan, rng: random.Random) -> list[dict[str, Any]]:
    """Rows as the SDK writes them: `_step`, `_runtime`, `_timestamp`, metrics, media-like dicts."""
    last = plan.fail_at if plan.fail_at is not None else STEPS
    start = 1_714_000_000.0
    rows: list[dict[str, Any]] = []
    for step in range(last):
        loss = 0.04 + 2.26 * math.exp(-step / STEPS * plan.speed)
        loss *= math.exp(rng.gauss(0, 0.03))
        if plan.fail_at is not None and step > plan.fail_at - 300:
            loss *= 1.012 ** (step - plan.fail_at + 300)  # diverging
        row: dict[str, Any] = {
            "_step": step,
            "_runtime": round(step * 0.05, 3),
            "_timestamp": start + step * 0.05,
            "train/loss": round(loss, 5),
            "lr": plan.lr * (0.5 ** (step // 1000)),
        }
        if step % 10 == 0:
            row["val/acc"] = round(max(0.0, min(0.99, 1.0 - loss / 2.5)), 4)
        if step % 250 == 7:
            row["train/loss"] = math.nan  # a NaN batch, as real runs have
        if step % 500 == 0:
            row["grad"] = {"norm": round(abs(rng.gauss(1.0, 0.3)), 4), "clipped": step % 1000 == 0}
        rows.append(row)
    return rows


class FileStream:
    """Posts to the SDK's `file_stream` endpoint (HTTP Basic `api:KEY`)."""

    def __init__(self, http: httpx.Client, run_id: str) -> None:
        self._http = http
        self._url = f"/files/{ENTITY}/{PROJECT}/{run_id}/file_stream"

    def post(self, files: dict[str, Any], **extra: Any) -> None:
        response = self._http.post(self._url, content=json.dumps({"files": files, **extra}))
        response.raise_for_status()

    def lines(self, name: str, lines: list[str]) -> None:
        """Stream `lines` as file `name` from line 0, `CHUNK` lines per post."""
        for offset in range(0, len(lines), CHUNK):
            self.post({name: {"offset": offset, "content": lines[offset : offset + CHUNK]}})


def _log_run(api: runapi.Api, http: httpx.Client, plan: RunPlan, workdir: Path) -> runapi.Run:
    rng = random.Random(plan.run_id)
    run = runapi.Run.create(api, run_id=plan.run_id, project=PROJECT, entity=ENTITY)
    run.name = plan.display_name
    run.tags = list(plan.tags)
    run.group = "lr-sweep"
    run.job_type = "train"
    run.config.update(
        {
            "lr": plan.lr,
            "optimizer": plan.optimizer,
            "batch_size": 64,
            "model": {"arch": "cnn", "layers": [32, 64], "dropout": 0.25},
        }
    )
    run.update()

    rows = _history(plan, rng)
    stream = FileStream(http, plan.run_id)
    stream.lines("wandb-history.jsonl", [json.dumps(r) for r in rows])
    events = [
        {"_runtime": t * 30.0, "_timestamp": 1_714_000_000 + t * 30, "system.cpu": 40 + t % 7}
        for t in range(len(rows) // 600 + 1)
    ]
    stream.lines("wandb-events.jsonl", [json.dumps(e) for e in events])
    stream.lines("output.log", [f"epoch {e}: loss {rows[-1]['train/loss']}" for e in range(3)])
    finite = [r["train/loss"] for r in rows if not math.isnan(r["train/loss"])]
    summary = {
        "train/loss": rows[-1]["train/loss"],
        "best/loss": min(finite),
        "val/acc": next(r["val/acc"] for r in reversed(rows) if "val/acc" in r),
        "_step": rows[-1]["_step"],
    }
    stream.post({"wandb-summary.json": {"offset": 0, "content": [json.dumps(summary)]}})

    files = workdir / plan.run_id
    files.mkdir()
    metadata = {
        "host": "gpu-box-1",
        "os": "Linux-6.8",
        "python": "CPython 3.11.7",
        "program": "train.py",
        "args": ["--lr", str(plan.lr), "--optimizer", plan.optimizer],
        "git": {"remote": "https://example.com/acme/mnist.git", "commit": "4f2a9c1"},
        "gpu": "NVIDIA A100",
        "gpu_count": 1,
        "cpu_count": 16,
    }
    (files / "wandb-metadata.json").write_text(json.dumps(metadata, indent=2))
    (files / "requirements.txt").write_text("torch==2.3.0\nwandb==0.21.4\n")
    for name in ("wandb-metadata.json", "requirements.txt"):
        run.upload_file(files / name, root=files)

    stream.post({}, complete=True, exitcode=1 if plan.fail_at is not None else 0)
    return run


def fill_project(api: runapi.Api, http: httpx.Client, workdir: Path) -> list[runapi.Run]:
    """Log every planned run, then an artifact made by one run and used by another."""
    runs = [_log_run(api, http, plan, workdir) for plan in PLANS]
    dataset = runapi.ArtifactSpec(
        "mnist", "dataset", description="MNIST, 60k train", metadata={"rows": 60000}
    )
    source = workdir / "mnist-dataset"
    rng = random.Random(7)
    for name, rows in (("train/images.csv", 600), ("test/images.csv", 100)):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        lines = [",".join(str(rng.randrange(256)) for _ in range(16)) for _ in range(rows)]
        (source / name).write_text("\n".join(lines) + "\n")
    (source / "README.md").write_text("# MNIST (a small synthetic stand-in)\n")
    dataset.add_dir(source)
    logged = runs[0].log_artifact(dataset, aliases=["latest", "v-prod"], progress=False)
    runs[1].use_artifact(logged)
    return runs


# ----------------------------------------------------------------------------- tour


class Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def section(self, title: str) -> None:
        print(f"\n== {title} ==", file=self.out)

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def frame(self, frame: pandas.DataFrame) -> None:
        with pandas.option_context(
            "display.width", 120, "display.max_columns", 10, "display.max_colwidth", 28
        ):
            self.line(frame.to_string())


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def tour(api: runapi.Api, report: Report, samples: int) -> None:
    """Read everything back through the public runapi API."""
    path = f"{ENTITY}/{PROJECT}"
    runs = api.runs(path, order="-summary_metrics.val/acc")
    report.section(f"api.runs({path!r}): {len(runs)} runs, best val/acc first")
    table = runs.to_pandas()
    report.frame(
        table[["id", "name", "state", "config.lr", "summary.val/acc", "summary.best/loss"]]
    )
    failed = api.runs(path, filters={"state": "failed"})
    report.line(f"filters={{'state': 'failed'}} -> {[r.id for r in failed]}")

    run = api.run(f"{path}/{PLANS[1].run_id}")
    report.section(f"api.run({run.path!r})")
    report.line(f"name={run.name!r} state={run.state} url={run.url}")
    report.line(f"config   {_short(run.config)}")
    report.line(f"summary  {_short(run.summary)}")
    report.line(f"metadata {_short(run.metadata)}")

    report.section(f"run.history(samples={samples}): first and last rows kept")
    history = run.history(samples=samples, keys=["train/loss", "val/acc"])
    report.frame(history[["_step", "train/loss", "val/acc"]])

    started = time.perf_counter()
    count = nan = 0
    for row in run.scan_history(page_size=1000):
        count += 1
        nan += isinstance(row.get("train/loss"), float) and math.isnan(row["train/loss"])
    took = time.perf_counter() - started
    report.section("run.scan_history(): every row, paged")
    report.line(
        f"{count} rows (lastHistoryStep={run.lastHistoryStep}) in {took:.2f}s; "
        f"{nan} NaN losses came back as NaN"
    )

    report.section("run.files()")
    for file in run.files():
        report.line(f"{file.name:<22} {file.size:>6} bytes  {file.mimetype}")

    report.section("artifacts")
    producer = api.run(f"{path}/{PLANS[0].run_id}")
    for artifact in producer.logged_artifacts():
        report.line(
            f"{producer.id} logged {artifact.name} ({artifact.type}) "
            f"aliases={artifact.aliases} metadata={artifact.metadata}"
        )
    for artifact in run.used_artifacts():
        report.line(f"{run.id} used {artifact.name}")
        for entry in artifact.files():
            report.line(f"  {entry.name:<20} {entry.size:>6} bytes  md5 {entry.digest}")
        with tempfile.TemporaryDirectory(prefix="runapi-demo-download-") as tmp:
            root = artifact.download(root=tmp, progress=False)
            count = sum(1 for p in root.rglob("*") if p.is_file())
            report.line(
                f"  artifact.download(): {count} files, MD5-checked "
                f"(digest {artifact.digest}, {artifact.size} bytes)"
            )

    report.section("update round trip: change a config key and a summary key")
    run.config["lr"] = 5e-4
    run.summary["note"] = "tuned by hand"
    run.update()
    again = api.run(f"{path}/{run.id}")
    report.line(
        f"reloaded: config.lr={again.config['lr']} summary.note={again.summary['note']!r} "
        f"(val/acc kept: {again.summary['val/acc']})"
    )


def run_demo(*, samples: int = 12, out: TextIO = sys.stdout) -> int:
    """Run the whole demo and return the exit code (0).

    ```python
    run_demo(samples=8)
    ```
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, not {samples}")
    started = time.perf_counter()
    report = Report(out)
    with tempfile.TemporaryDirectory(prefix="runapi-demo-") as tmp:
        data_dir = Path(tmp) / "data"
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        with local_server(data_dir) as url:
            key = create_user(data_dir, ENTITY)
            report.line(f"local server {url} (temporary data dir), user {ENTITY!r}")
            with (
                runapi.Api(api_key=key, base_url=url) as api,
                httpx.Client(base_url=url, auth=("api", key), timeout=30) as http,
            ):
                fill_project(api, http, workdir)
                report.line(
                    f"logged {len(PLANS)} runs x up to {STEPS} steps, files and an artifact "
                    f"in {time.perf_counter() - started:.1f}s"
                )
                tour(api, report, samples)
    report.line(f"\ndone in {time.perf_counter() - started:.1f}s; temporary data removed.")
    return 0
