"""The two server backends side by side: SQLite (the default) and PostgreSQL (the team
server), on the same machine, same data, same client.

Per backend: a fresh server (`runapi serve --workers 2`, the database chosen through
`RUNAPI_DATABASE`), then
- ingest by 16 concurrent writers (one run each, file_stream posts of 1,000 rows);
- the runs table of `table_runs` runs (`api.runs(...).to_pandas()`);
- sampled histories of `bulk_runs` runs (`runs.histories(samples=500)`).

PostgreSQL comes from a throwaway cluster (`scripts/pg_cluster.py`), fsync on, as a team
server would run it; SQLite runs with `synchronous=FULL` as always.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.fill import Filler, Server, fill_bulk, fill_runs_table, history_lines
from benchmarks.harness import Result, log, run_scenario

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 16
POST_ROWS = 1_000


def _ingest(filler: Filler, project: str, rows_per_writer: int) -> float:
    """Rows/s of `WRITERS` threads each streaming `rows_per_writer` rows to its own run."""
    names = [f"w{w:02d}" for w in range(WRITERS)]
    for name in names:
        filler.create_run(project, name)
    bodies = {
        name: [
            Filler.body(history_lines(start, start + POST_ROWS, 10, seed=w), start)
            for start in range(0, rows_per_writer, POST_ROWS)
        ]
        for w, name in enumerate(names)
    }

    def write(name: str) -> None:
        for body in bodies[name]:
            filler.post(project, name, body)

    started = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, names))
    return WRITERS * rows_per_writer / (time.perf_counter() - started)


def backend_group(
    ours: Path,
    entity: str,
    make_user: Any,
    postgres_url: str | None,
    *,
    rows_per_writer: int,
    table_runs: int,
    bulk_runs: int,
    bulk_rows: int,
    reps: int,
) -> list[Result]:
    """Results per backend; `postgres_url` is a fresh database's URL (None: SQLite only).

    `make_user(data_dir, database)` creates the benchmark user and returns its API key.
    """
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    if postgres_url is not None:
        backends.append(("PostgreSQL", postgres_url))
    ingest = Result(f"ingest, {WRITERS} concurrent writers", f"{WRITERS} x {rows_per_writer:,}")
    table = Result("runs table -> DataFrame", f"{table_runs:,} runs x 20+20 keys")
    bulk = Result("bulk sampled histories", f"{bulk_runs} runs x {bulk_rows} rows")
    by_backend: dict[str, dict[str, float]] = {}
    for label, database in backends:
        data_dir = Path(tempfile.mkdtemp(prefix=f"runapi-bench-{label.lower()}-"))
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if database is not None:
            env["RUNAPI_DATABASE"] = database
        key = make_user(data_dir, database)
        server = Server(data_dir, data_dir / "server.log")
        server.start(env=env, workers=2)
        try:
            filler = Filler(server.url, key, entity)
            log(f"{label}: ingest by {WRITERS} writers")
            rate = _ingest(filler, "ingest", rows_per_writer)
            log(f"{label}: filling {table_runs:,} runs and {bulk_runs} histories")
            fill_runs_table(filler, "table", table_runs, 20)
            fill_bulk(filler, "bulk", bulk_runs, bulk_rows)
            client_env = {
                **env,
                "WANDB_BASE_URL": server.url,
                "WANDB_API_KEY": key,
            }
            times: dict[str, list[float]] = {"table": [], "bulk": []}
            for _ in range(reps):
                for scenario, project in (("runs_table", "table"), ("bulk", "bulk")):
                    args = {"project": f"{entity}/{project}"}
                    res = run_scenario(ours, "runapi", scenario, args, client_env)
                    if res:
                        times["table" if scenario == "runs_table" else "bulk"].append(
                            res["seconds"]
                        )
        finally:
            server.stop()
        by_backend[label] = {
            "ingest": rate,
            "table": statistics.median(times["table"]) if times["table"] else float("nan"),
            "bulk": statistics.median(times["bulk"]) if times["bulk"] else float("nan"),
        }
        ingest.extra[f"{label} rows/s"] = f"{rate:,.0f}"
        table.extra[label] = f"{by_backend[label]['table']:.3f} s"
        bulk.extra[label] = f"{by_backend[label]['bulk']:.3f} s"
    if "PostgreSQL" in by_backend:
        pg, lite = by_backend["PostgreSQL"], by_backend["SQLite"]
        ingest.extra["PostgreSQL / SQLite"] = f"{pg['ingest'] / lite['ingest']:.2f}x the rows/s"
        table.extra["PostgreSQL / SQLite"] = f"{pg['table'] / lite['table']:.2f}x the time"
        bulk.extra["PostgreSQL / SQLite"] = f"{pg['bulk'] / lite['bulk']:.2f}x the time"
    for result in (ingest, table, bulk):
        result.scenario = f"{PREFIX}{result.scenario}"
    return [ingest, table, bulk]


PREFIX = "backends: "


def run_backends(ours: Path, entity: str, **sizes: int) -> list[Result]:
    """`backend_group` on a throwaway PostgreSQL cluster (SQLite alone when no PostgreSQL
    binaries are installed); `sizes` as `backend_group` takes them."""
    from runapi_server.storage.database import open_database
    from runapi_server.users import create_user

    def make_user(data_dir: Path, database: str | None) -> str:
        if database is not None:
            open_database(database, data_dir).close()  # the data dir records its database
        return create_user(data_dir, entity)

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from pg_cluster import bin_dir, temp_cluster

        bin_dir()
    except (ImportError, RuntimeError, OSError) as exc:
        log(f"backends: no PostgreSQL ({exc}); SQLite only")
        return backend_group(ours, entity, make_user, None, **sizes)
    with temp_cluster(fsync=True) as cluster:
        url = cluster.create_database("bench")
        return backend_group(ours, entity, make_user, url, **sizes)


def backends_table(results: list[Result]) -> list[str]:
    """The backend rows as their own Markdown table (empty when none ran)."""
    rows = [r for r in results if r.scenario.startswith(PREFIX)]
    if not rows:
        return []
    lines = [
        "",
        "Backends (runapi only, `runapi serve --workers 2` on each; PostgreSQL: a local"
        " cluster with fsync on, SQLite: `synchronous=FULL`):",
        "",
        "| scenario | size | SQLite | PostgreSQL | PostgreSQL vs SQLite |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        name = r.scenario.removeprefix(PREFIX)
        lite = r.extra.get("SQLite rows/s", r.extra.get("SQLite", "n/a"))
        pg = r.extra.get("PostgreSQL rows/s", r.extra.get("PostgreSQL", "n/a"))
        if "rows/s" in name or "ingest" in name:
            lite, pg = f"{lite} rows/s", f"{pg} rows/s" if pg != "n/a" else pg
        lines.append(
            f"| {name} | {r.size} | {lite} | {pg} | {r.extra.get('PostgreSQL / SQLite', 'n/a')} |"
        )
    return lines
