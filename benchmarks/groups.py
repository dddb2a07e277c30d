"""Benchmark groups of issue 14: the realistic sparse run (full read, first read right after
the run finishes, sampled), row iteration against wandb, and what history exports cost
ingest (two servers, exports on and off, fed the same posts alternately)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.fill import Filler, Server, fill_history, history_lines, sparse_lines
from benchmarks.harness import Result, fmt, log, run_scenario


def warm_libraries(python: Path, env: dict[str, str]) -> None:
    """Load the reading process's libraries once, untimed, so that a cold read measures
    the server's state right after a run ends, not the first load of pandas and pyarrow
    from disk after the fill."""
    code = "import pandas, pyarrow.parquet, runapi"
    subprocess.run([str(python), "-c", code], check=True, env=env, capture_output=True)


SAMPLED_CALLS = 15
"""Timed `history(samples=500)` calls per process: a call takes milliseconds, so a few
more per process steady the median (the same count on every side)."""
SAMPLED_NOTE = f"per call, median over {SAMPLED_CALLS} calls x repetitions (after 1 warm-up)"
IDLE_S = 6
"""The pause before the idle-matched warm read (`cold_extras`)."""
LONG_ANCHOR = "0.21.4"
"""The anchor also timed on the long row iteration (the target names it)."""


def cold_extras(
    cold: Result,
    firsts: list[float],
    warm_times: list[float],
    ours: Path,
    path: str,
    env: dict[str, str],
    idle_times: list[float] | None = None,
) -> None:
    """The cold reads' (`firsts`, each the first read of a run right after its last post)
    ratios: to the back-to-back warm reads, and to warm reads after `IDLE_S` s of idle
    (`idle_times`, else one more such read). On a VM that hands freed guest memory back
    to its host (free page reporting, as on the Firecracker machines this runs on), a
    process touching memory freed seconds earlier pays a host page fault per page: a warm
    read after a pause pays it, while back-to-back warm reads reuse the memory the
    previous read just freed."""
    cold.times["runapi"] = list(firsts)
    cold_s = statistics.median(firsts)
    warm = statistics.median(warm_times) if warm_times else float("nan")
    count = f"{len(firsts)} repetition" + ("s" if len(firsts) > 1 else "")
    cold.extra["cold / warm"] = f"{cold_s / warm:.2f}x ({count})"
    if not idle_times:
        time.sleep(IDLE_S)
        idle = run_scenario(ours, "runapi", "full_history", {"path": path}, env)
        idle_times = [idle["seconds"]] if idle else []
    if idle_times:
        cold.extra[f"warm read after {IDLE_S} s idle"] = fmt(idle_times)
        cold.extra[f"cold / warm after {IDLE_S} s idle"] = (
            f"{cold_s / statistics.median(idle_times):.2f}x"
        )


def cold_reads(
    ours: Path, env: dict[str, str], filler: Filler, project: str, rows: int, count: int
) -> list[float]:
    """The first read of each of `count` new runs of `rows` x 10, each made and read right
    after its last post (what a user who logs a run and reads it at once meets)."""
    times = []
    for index in range(count):
        run = f"cold-{index}"
        log(f"filling {run}: {rows:,} x 10, then its first read")
        fill_history(filler, project.rsplit("/", 1)[1], run, rows, 10)
        warm_libraries(ours, env)
        res = run_scenario(ours, "runapi", "full_history", {"path": f"{project}/{run}"}, env)
        if res:
            times.append(res["seconds"])
    return times


def sparse_group(
    ours: Path,
    anchors: dict[str, Path],
    env: dict[str, str],
    filler: Filler,
    entity: str,
    rows: int,
    reps: int,
    anchor_reps: int,
) -> tuple[list[Result], float]:
    """Fill the sparse run, read it at once (cold), then warm, sampled; with the anchors."""
    log(f"filling: {rows:,} rows, train metrics every step, val every 50, some NaN")
    ingest = fill_history(filler, "hist", "sparse", rows, 0, lines_of=sparse_lines)
    path = f"{entity}/hist/sparse"
    size = f"{rows:,} rows (4 train + 2 val metrics)"
    log("first read of the sparse run, right after its last post")
    warm_libraries(ours, env)
    first = run_scenario(ours, "runapi", "full_history", {"path": path}, env)
    full = Result("sparse run: full history -> DataFrame", size)
    for rep in range(reps):
        log(f"sparse full history rep {rep + 1}")
        res = run_scenario(ours, "runapi", "full_history", {"path": path}, env)
        if res:
            full.times.setdefault("runapi", []).append(res["seconds"])
        if rep < anchor_reps:
            for version, python in anchors.items():
                args: dict[str, Any] = {"path": path}
                if version != "0.21.4":
                    args["no_cache"] = True
                res = run_scenario(python, "wandb", "full_history", args, env)
                if res:
                    full.times.setdefault(version, []).append(res["seconds"])
    cold = Result("sparse run: first read right after the run finishes (cold)", size)
    if first:
        cold_extras(cold, [first["seconds"]], full.times.get("runapi", []), ours, path, env)
    sampled = Result("history(samples=500), sparse run", f"{rows:,} rows")
    for rep in range(reps):
        for side, python in [("runapi", ours), *anchors.items()]:
            if side != "runapi" and rep >= anchor_reps:
                continue
            impl = "runapi" if side == "runapi" else "wandb"
            res = run_scenario(python, impl, "sampled", {"path": path, "calls": SAMPLED_CALLS}, env)
            if res:
                sampled.times.setdefault(side, []).extend(res["times"])
    sampled.notes.append(SAMPLED_NOTE)
    return [full, cold, sampled], ingest


def iteration_group(
    ours: Path,
    anchors: dict[str, Path],
    env: dict[str, str],
    path: str,
    rows: int,
    long_rows: int,
    reps: int,
    anchor_reps: int,
) -> list[Result]:
    """Row iteration of the first `rows` steps of the 3-metric run, runapi against the
    anchors; and over its first `long_rows` steps, runapi against wandb 0.21.4 (the
    other anchor takes minutes there: its rate at `rows` steps is in the first row)."""
    vs = Result("scan_history() row iteration", f"{rows:,} rows")
    long = Result("scan_history() row iteration", f"{long_rows:,} rows")
    for rep in range(max(reps, anchor_reps)):
        log(f"row iteration rep {rep + 1}")
        for result, count in ((vs, rows), (long, long_rows)):
            sides = [("runapi", ours)] if rep < reps else []
            if rep < anchor_reps:
                sides += [(v, py) for v, py in anchors.items() if result is vs or v == LONG_ANCHOR]
            for side, python in sides:
                impl = "runapi" if side == "runapi" else "wandb"
                args = {"path": path, "max_step": count}
                res = run_scenario(python, impl, "scan_iter", args, env)
                if res:
                    result.times.setdefault(side, []).append(res["seconds"])
    for result, count in ((vs, rows), (long, long_rows)):
        if result.times.get("runapi"):
            rate = count / statistics.median(result.times["runapi"])
            result.extra["runapi rows/s"] = f"{rate:,.0f}"
        result.notes.append("`sum(1 for _ in run.scan_history(max_step=N))`, default page_size")
    return [vs, long]


def export_files(data_dir: Path, run: str) -> list[Path]:
    """The parquet history exports of ``run``, in line order (from the server's database)."""
    import sqlite3

    db = data_dir / "runapi.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found = conn.execute(
            "SELECT e.path FROM history_exports AS e JOIN runs ON runs.id = e.run_id"
            " WHERE runs.name = ? AND e.path != '' ORDER BY e.first_line",
            (run,),
        )
        return [data_dir / row[0] for row in found]


def full_group(
    ours: Path,
    anchors: dict[str, Path],
    env: dict[str, str],
    data_dir: Path,
    filler: Filler,
    path: str,
    rows: int,
    prefix_rows: int,
    reps: int,
    anchor_reps: int,
) -> list[Result]:
    """The full history of `path` (`rows` x 10) to a DataFrame: the first read of runs of
    the same size right after their last post (cold, `cold_reads`), warm reads through
    the exports and through GraphQL pages only, against the anchors and a local parquet
    read of the same exports."""
    firsts = cold_reads(ours, env, filler, path.rsplit("/", 1)[0], rows, reps)

    # 1. full history, parquet path
    r1 = Result("full history -> DataFrame (parquet exports)", f"{rows:,} x 10")
    r2 = Result("full history -> DataFrame (GraphQL pages only)", f"{rows:,} x 10")
    prefix = {"path": path, "max_step": prefix_rows}
    files = export_files(data_dir, path.rsplit("/", 1)[1])
    local = {"files": [str(f) for f in files]}
    for rep in range(reps):
        log(f"full history rep {rep + 1}")
        for name, args, target in (
            ("runapi", {"path": path}, r1),
            ("runapi", {"path": path, "parquet": False}, r2),
        ):
            res = run_scenario(ours, name, "full_history", args, env)
            if res:
                target.times.setdefault("runapi", []).append(res["seconds"])
            if args.get("parquet", True) and files:  # the reference, right after (A B A B)
                res = run_scenario(ours, "runapi", "local_parquet", local, env)
                if res:
                    r1.times.setdefault("local parquet", []).append(res["seconds"])
        if rep < anchor_reps:
            for version, python in anchors.items():
                if version == "0.21.4":
                    res = run_scenario(python, "wandb", "full_history", prefix, env)
                    if res:
                        rate = res["rows"] / res["seconds"]
                        for r in (r1, r2):
                            r.times.setdefault(version, []).append(rows / rate)
                else:
                    args = {"path": path, "no_cache": True}
                    res = run_scenario(python, "wandb", "full_history", args, env)
                    if res:
                        r1.times.setdefault(version, []).append(res["seconds"])
    note = (
        f"wandb 0.21.4 timed on the first {prefix_rows:,} rows (max_step) and"
        f" extrapolated linearly to {rows:,} rows"
    )
    r1.notes.append(note)
    r2.notes.append(note)
    r1.notes.append("wandb 0.31.0: `scan_history(use_cache=False)` (no local parquet cache)")
    try:
        import pyarrow.parquet as pq

        warm = []
        for _ in range(3):
            t0 = time.perf_counter()
            pq.read_table(files[0] if len(files) == 1 else files).to_pandas()
            warm.append(time.perf_counter() - t0)
        fresh = r1.times.get("local parquet", [])
        r1.extra["local parquet (pyarrow, same files, a fresh process like each read)"] = fmt(fresh)
        r1.extra["local parquet (same, in the benchmark's own warm process)"] = fmt(warm)
        if fresh and r1.times.get("runapi"):
            ratio_ = statistics.median(r1.times["runapi"]) / statistics.median(fresh)
            r1.extra["runapi / local parquet (fresh processes, back to back)"] = f"{ratio_:.2f}x"
    except Exception as exc:  # a reference figure only
        r1.notes.append(f"local parquet reference not measured: {exc}")
    paced = paced_pairs(ours, env, path, local, reps) if files else {}
    if paced.get("runapi") and paced.get("local parquet"):
        ours_s = statistics.median(paced["runapi"])
        local_s = statistics.median(paced["local parquet"])
        label = f"each read after {IDLE_S} s idle, {len(paced['runapi'])} pairs"
        r1.extra[f"runapi ({label})"] = fmt(paced["runapi"])
        r1.extra[f"local parquet ({label})"] = fmt(paced["local parquet"])
        r1.extra[f"runapi / local parquet ({label})"] = f"{ours_s / local_s:.2f}x"
    cold = Result(
        "full history -> DataFrame, first read right after the run finishes (cold)",
        f"{rows:,} x 10",
    )
    if firsts and r1.times.get("runapi"):
        cold_extras(cold, firsts, r1.times["runapi"], ours, path, env, paced.get("runapi"))
    return [r1, cold, r2]


def paced_pairs(
    ours: Path, env: dict[str, str], path: str, local: dict[str, Any], pairs: int
) -> dict[str, list[float]]:
    """runapi's full read and the local parquet read in turn, each in a fresh process
    started after `IDLE_S` s of idle, so both meet memory in the same state (see
    `cold_extras`): back to back, the local read reuses the memory the runapi read freed a
    moment before, and the ratio measures the VM's page faults as much as the reads."""
    times: dict[str, list[float]] = {}
    for pair in range(pairs):
        log(f"paced pair {pair + 1}")
        for side, scenario, args in (
            ("runapi", "full_history", {"path": path}),
            ("local parquet", "local_parquet", local),
        ):
            time.sleep(IDLE_S)
            res = run_scenario(ours, "runapi", scenario, args, env)
            if res:
                times.setdefault(side, []).append(res["seconds"])
    return times


def formats_group(
    ours: Path, env: dict[str, str], cases: list[tuple[str, str, dict[str, Any], str]], reps: int
) -> list[Result]:
    """Each case (label, scenario, args, size) timed as pandas, arrow and polars output,
    alternating formats within a repetition; one row per format with its ratio to pandas."""
    found: list[Result] = []
    for label, scenario, args, size in cases:
        rows = {fmt_: Result(f"{label} -> {fmt_}", size) for fmt_ in ("pandas", "arrow", "polars")}
        for rep in range(reps):
            log(f"{scenario} formats rep {rep + 1}")
            for output, result in rows.items():
                res = run_scenario(ours, "runapi", scenario, {**args, "format": output}, env)
                if res:
                    result.times.setdefault("runapi", []).append(res["seconds"])
        pandas_times = rows["pandas"].times.get("runapi", [])
        for output in ("arrow", "polars"):
            times = rows[output].times.get("runapi", [])
            if times and pandas_times:
                share = statistics.median(times) / statistics.median(pandas_times)
                rows[output].extra["time / to_pandas time"] = f"{share:.2f}x"
        found += rows.values()
    return found


def ingest_cost(key_of: Callable[[Path], str], rows: int, metrics: int, chunk: int = 20_000) -> str:
    """Ingest with history exports on and off: two servers fed the same posts, alternating
    which goes first; rows/s of each (posting time) and the median per-post time ratio."""
    servers: list[tuple[Server, Filler]] = []
    try:
        for exports in ("1", "0"):
            data_dir = Path(tempfile.mkdtemp(prefix=f"runapi-bench-ingest{exports}-"))
            server = Server(data_dir, data_dir / "server.log")
            server.start(env={**os.environ, "RUNAPI_HISTORY_EXPORTS": exports})
            filler = Filler(server.url, key_of(data_dir), "bench")
            filler.create_run("ingest", "run")
            servers.append((server, filler))
        spent: list[list[float]] = [[], []]
        for i, start in enumerate(range(0, rows, chunk)):
            body = Filler.body(history_lines(start, min(start + chunk, rows), metrics), start)
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for side in order:
                t0 = time.perf_counter()
                servers[side][1].post("ingest", "run", body)
                spent[side].append(time.perf_counter() - t0)
        for _, filler in servers:
            filler.finish("ingest", "run")
        on, off = (rows / sum(times) for times in spent)
        ratios = [a / b for a, b in zip(spent[0], spent[1], strict=True)]
        return (
            f"{rows:,} rows x {metrics + 3} values, {chunk:,}-row posts: exports on"
            f" {on:,.0f} rows/s, off {off:,.0f} rows/s (time per post on/off: median"
            f" {statistics.median(ratios):.2f}x)"
        )
    finally:
        for server, _ in servers:
            server.stop()
