"""Where a file_stream post's time goes in the server, in-process (no HTTP, no client).

`python -m benchmarks.ingest_profile [ROWS] [--sparse] [--live-exporter] [--profile]
[--database URL]`:
streams ROWS (default 400,000) 13-value rows (`fill.history_lines`, 10 metrics; with
`--sparse` the realistic sparse log of `fill.sparse_lines`) in 20,000-row posts
through the server's own steps, timing each: decoding the body, the row limit check,
validation of all but the history lines (`parse_post`), the write transaction
(`apply_post`: parsing the history lines in parts while the parts before are inserted)
and the exporter's work for the post (run here synchronously, after the post, as the
exporter thread would; with `--live-exporter` the exporter thread runs meanwhile, as in
the server, and is not timed).
`--profile` adds a cProfile table of the whole loop (sorted by own time).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.fill import Filler, history_lines, sparse_lines
from runapi_server import export_worker, filestream, parquet_export
from runapi_server.auth import AuthUser
from runapi_server.lookup import find_run
from runapi_server.state import ServerState
from runapi_server.storage import runs as stored_runs
from runapi_server.storage.database import Database
from runapi_server.storage.history import HISTORY, stream_stats
from runapi_server.timeutil import now_iso

CHUNK = 20_000
PHASES = (
    "decode body",
    "row limits",
    "validate (parse_post, history deferred)",
    "parse history + store (apply_post)",
    "export (exporter, off the request)",
)


def _make_run(db: Database) -> AuthUser:
    user = AuthUser(id=1, name="bench")
    now = now_iso()
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO users (id, name, created_at) VALUES (1, 'bench', ?)"
            " ON CONFLICT (id) DO NOTHING",
            (now,),
        )
        project = stored_runs.ensure_project(conn, "bench", "ingest", now)
        stored_runs.insert_run(
            conn,
            project_db_id=project,
            name="run",
            user_id=1,
            display_name="run",
            now=now,
            url_key="run",
        )
    return user


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(args[0]) if args else 400_000
    database = None
    if "--database" in sys.argv:
        database = sys.argv[sys.argv.index("--database") + 1]
        args = [a for a in args if a != database]
        rows = int(args[0]) if args else 400_000
    data_dir = Path(tempfile.mkdtemp(prefix="runapi-ingest-profile-"))
    state = ServerState.open(data_dir, database=database)
    user = _make_run(state.db)
    sparse = "--sparse" in sys.argv

    def lines(start: int) -> list[str]:
        stop = min(start + CHUNK, rows)
        return sparse_lines(start, stop) if sparse else history_lines(start, stop, 10)

    bodies = [(start, Filler.body(lines(start), start)) for start in range(0, rows, CHUNK)]
    spent: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    live = "--live-exporter" in sys.argv  # the exporter thread runs as in the server
    if not live:  # the exporter's work for each post runs below, timed on its own
        export_worker.after_post = lambda *args: None  # type: ignore[assignment]
    profiler = cProfile.Profile() if "--profile" in sys.argv else None
    if profiler:
        profiler.enable()
    for _, raw in bodies:
        marks = [(time.perf_counter(), time.thread_time())]
        body = filestream._decode(raw)
        marks.append((time.perf_counter(), time.thread_time()))
        problem = state.limits.stream_problem(body)
        assert problem is None
        marks.append((time.perf_counter(), time.thread_time()))
        post = filestream.parse_post(body, defer_history=True)
        marks.append((time.perf_counter(), time.thread_time()))
        assert filestream.apply_post(state, user, "bench", "ingest", "run", post)
        marks.append((time.perf_counter(), time.thread_time()))
        if parquet_export.exports_enabled() and not live:
            with state.db.transaction() as conn:
                run = find_run(conn, user, "bench", "ingest", "run")
                assert run is not None
                rewrites = stream_stats(conn, int(run["id"]), HISTORY).rewrites
            export_worker._Exporter(state)._export(int(run["id"]), _due(post, rewrites))
        marks.append((time.perf_counter(), time.thread_time()))
        for i, name in enumerate(PHASES):
            spent[name] += marks[i + 1][0] - marks[i][0]
            cpu[name] += marks[i + 1][1] - marks[i][1]
    if profiler:
        profiler.disable()
    request = sum(v for k, v in spent.items() if not k.startswith("export"))
    shape = "sparse rows (fill.sparse_lines)" if sparse else "13 values"
    print(f"{rows:,} rows x {shape}, {CHUNK:,}-row posts, {state.db.description}")
    request_cpu = sum(v for k, v in cpu.items() if not k.startswith("export"))
    print(f"  {'phase':36s} {'wall':>7s}    {'cpu':>7s}")
    for name, seconds in spent.items():
        print(
            f"  {name:36s} {seconds:7.3f} s  {cpu[name]:7.3f} s"
            f"  {seconds / request * 100:5.1f}% of the request"
        )
    print(f"  request total {request:.3f} s: {rows / request:,.0f} rows/s")
    print(f"  request cpu {request_cpu:.3f} s: {rows / request_cpu:,.0f} rows/s")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    state.db.close()


def _due(post: filestream.StreamPost, rewrites: int) -> export_worker._Due:
    due = export_worker._Due()
    due.add(post.history_chunks, rewrites)
    return due


if __name__ == "__main__":
    main()
