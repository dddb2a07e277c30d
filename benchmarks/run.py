"""Side-by-side benchmarks: runapi against wandb 0.21.4 and the current wandb release.

```
python benchmarks/run.py            # full sizes (1M-row run, 10M-row run, 10,000 runs ...)
python benchmarks/run.py --quick    # scaled down, a few minutes; what CI runs
```

Starts the local server (subprocess) on a temporary data dir, fills it through the wire
protocol (upsertBucket + bulk file_stream posts), then times each scenario for runapi and
for each anchor in turn (A B A B ...), every timing in a fresh subprocess of that side's
venv, all pointed at the same server with WANDB_BASE_URL / WANDB_API_KEY. The anchors'
venvs are made under benchmarks/.work/ (reused when present). Prints a table and writes
benchmarks/RESULTS.md. No thresholds are asserted: this reports, it does not judge.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
sys.path.insert(0, str(ROOT))

from benchmarks.artifacts import artifact_results  # noqa: E402
from benchmarks.backends import PREFIX, backends_table, run_backends  # noqa: E402
from benchmarks.fill import (  # noqa: E402
    Filler,
    Server,
    fill_bulk,
    fill_history,
    fill_many,
    fill_runs_table,
)
from benchmarks.groups import (  # noqa: E402
    SAMPLED_CALLS,
    SAMPLED_NOTE,
    formats_group,
    full_group,
    ingest_cost,
    iteration_group,
    sparse_group,
)
from benchmarks.harness import Result, fmt, log, ratio, run_scenario  # noqa: E402

ANCHORS = ["0.21.4", "0.31.0"]
ENTITY = "bench"


@dataclass
class Sizes:
    big_rows: int
    huge_rows: int
    table_runs: int
    bulk_runs: int
    bulk_rows: int
    prefix_rows: int  # wandb 0.21.4 full-history timing is on this prefix, extrapolated
    reps: int
    anchor_reps: int
    many_runs: int  # full histories of many runs to one long frame
    many_rows: int
    many_anchor_runs: int  # the anchors read this many of them, extrapolated
    sparse_rows: int  # the realistic run: train metrics every step, val every 50, some NaN
    iter_rows: int  # row iteration against the anchors (a size they finish)
    iter_long_rows: int  # row iteration, runapi alone
    ingest_rows: int  # ingest with exports on and off
    artifact_bytes: int = 1 << 30
    artifact_files: int = 1000
    writer_rows: int = 50_000  # backends: rows each of the 16 concurrent writers posts
    backend_runs: int = 10_000  # backends: runs of the runs table


# fmt: off
FULL = Sizes(
    1_000_000, 10_000_000, 10_000, 200, 2_000, 20_000, 3, 2,
    100, 100_000, 10,
    300_000, 100_000, 1_000_000, 400_000,
)
QUICK = Sizes(
    20_000, 200_000, 200, 20, 500, 2_000, 2, 1,
    4, 2_000, 2,
    20_000, 10_000, 100_000, 40_000,
    8 << 20, 100, 2_000, 200,
)
# fmt: on


# --------------------------------------------------------------------------- venvs


def anchor_python(version: str) -> Path | None:
    """The python of a venv holding wandb==version (made under .work/ when missing)."""
    venv = WORK / f"venv-wandb-{version}"
    python = venv / "bin" / "python"
    probe = f"import wandb, pandas; assert wandb.__version__ == '{version}'"
    own = [sys.executable, "-c", probe]  # the dev venv pins wandb==0.21.4: reuse it
    if subprocess.run(own, capture_output=True).returncode == 0:
        return Path(sys.executable)
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    log(f"creating {venv} (wandb=={version}, pandas)")
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"wandb=={version}", "pandas"],
            check=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log(f"cannot make the wandb {version} venv ({exc}); that anchor is skipped")
        return None
    return python if subprocess.run(check, capture_output=True).returncode == 0 else None


# --------------------------------------------------------------------------- timing


def time_import(python: Path, module: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(python), "-c", f"import {module}"], check=True, env=env)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- main


def machine() -> str:
    cores = os.cpu_count()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cores} cores ({cpu}), {mem:.1f} GiB RAM, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}"
    )


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("runapi", "pandas", "pyarrow", "httpx", "pydantic"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scaled-down data (CI smoke run)")
    parser.add_argument("--no-anchors", action="store_true", help="time runapi only")
    parser.add_argument(
        "--anchors",
        default=",".join(ANCHORS),
        help=f"comma-separated wandb versions to time against (default: {','.join(ANCHORS)})",
    )
    parser.add_argument("--huge-rows", type=int, help="rows of the long run (default by mode)")
    parser.add_argument(
        "--only",
        default="full,formats,sampled,table,bulk,many,import,scan,sparse,iter,ingest,artifacts,backends",
        help="comma-separated scenario groups to run",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=2,
        help="worker processes of the benchmark server (`runapi serve --workers N`; default 2)",
    )
    parser.add_argument("--output", type=Path, help="where to write the table (RESULTS.md)")
    opts = parser.parse_args()
    sizes = QUICK if opts.quick else FULL
    if opts.huge_rows:
        sizes.huge_rows = opts.huge_rows
    output = opts.output or (WORK / "RESULTS-quick.md" if opts.quick else HERE / "RESULTS.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()

    anchors: dict[str, Path] = {}
    if not opts.no_anchors:
        for version in opts.anchors.split(","):
            if version not in ANCHORS:
                parser.error(f"--anchors: {version!r} is not one of {', '.join(ANCHORS)}")
            python = anchor_python(version)
            if python is not None:
                anchors[version] = python
    ours = Path(sys.executable)

    data_dir = Path(tempfile.mkdtemp(prefix="runapi-bench-"))
    from runapi_server.users import create_user

    key = create_user(data_dir, ENTITY)
    server = Server(data_dir, data_dir / "server.log")
    server.start(workers=opts.server_workers)
    results: list[Result] = []
    ingest: dict[str, float] = {}
    try:
        env = {
            **os.environ,
            "WANDB_BASE_URL": server.url,
            "WANDB_API_KEY": key,
            "WANDB_SILENT": "true",
            "PYTHONWARNINGS": "ignore",
            "WANDB_CONFIG_DIR": str(data_dir / "wandb-config"),
            "WANDB_CACHE_DIR": str(data_dir / "wandb-cache"),
            "WANDB_DATA_DIR": str(data_dir / "wandb-data"),
            "WANDB_DIR": str(data_dir / "wandb-dir"),
        }
        filler = Filler(server.url, key, ENTITY)
        only = set(opts.only.split(","))
        if only & {"full", "sampled", "formats"}:
            log(f"filling: {sizes.big_rows:,} x 10 metrics")
            ingest["big"] = fill_history(filler, "hist", "big", sizes.big_rows, 10)
        if only & {"sampled", "scan", "iter"}:
            log(f"filling: {sizes.huge_rows:,} x 3 metrics")
            ingest["huge"] = fill_history(filler, "hist", "huge", sizes.huge_rows, 3)
        if only & {"table", "formats"}:
            log(f"filling: {sizes.table_runs:,} runs x 20 config + 20 summary keys")
            fill_runs_table(filler, "table", sizes.table_runs, 20)
        if "bulk" in only:
            log(f"filling: {sizes.bulk_runs} runs x {sizes.bulk_rows} rows")
            fill_bulk(filler, "bulk", sizes.bulk_runs, sizes.bulk_rows)
        if "many" in only:
            log(f"filling: {sizes.many_runs} runs x {sizes.many_rows:,} rows")
            fill_many(filler, "many", sizes.many_runs, sizes.many_rows)

        big = f"{ENTITY}/hist/big"
        huge = f"{ENTITY}/hist/huge"
        if "full" in only:
            results += full_group(
                ours,
                anchors,
                env,
                data_dir,
                filler,
                big,
                sizes.big_rows,
                sizes.prefix_rows,
                sizes.reps,
                sizes.anchor_reps,
            )

        # 1f. each output format of the full history and the runs table
        if "formats" in only:
            results += formats_group(
                ours,
                env,
                [
                    ("full history", "full_history", {"path": big}, f"{sizes.big_rows:,} x 10"),
                    (
                        "runs table",
                        "runs_table",
                        {"project": f"{ENTITY}/table"},
                        f"{sizes.table_runs:,} runs x 20+20 keys",
                    ),
                ],
                sizes.reps,
            )

        # 3. sampling
        if "sampled" in only:
            for path, rows in ((big, sizes.big_rows), (huge, sizes.huge_rows)):
                for keys in (None, ["m0", "m1"]):
                    label = "history(samples=500" + (", keys=[m0, m1])" if keys else ")")
                    res3 = Result(label, f"{rows:,} rows")
                    for rep in range(sizes.reps if path == big else 2):
                        sides: list[tuple[str, Path]] = [("runapi", ours), *anchors.items()]
                        for side, python in sides:
                            if side != "runapi" and rep >= sizes.anchor_reps:
                                continue
                            impl = "runapi" if side == "runapi" else "wandb"
                            args3: dict[str, Any] = {"path": path, "keys": keys}
                            args3["calls"] = SAMPLED_CALLS
                            res = run_scenario(python, impl, "sampled", args3, env)
                            if res:
                                res3.times.setdefault(side, []).extend(res["times"])
                    res3.notes.append(SAMPLED_NOTE)
                    results.append(res3)

        # 4. runs table, 5. bulk
        if "table" in only or "bulk" in only:
            for scenario, args4, label, size in (
                (
                    "runs_table",
                    {"project": f"{ENTITY}/table"},
                    "runs table -> DataFrame",
                    f"{sizes.table_runs:,} runs x 20+20 keys",
                ),
                (
                    "bulk",
                    {"project": f"{ENTITY}/bulk"},
                    "bulk sampled histories",
                    f"{sizes.bulk_runs} runs x {sizes.bulk_rows} rows",
                ),
            ):
                if scenario == "runs_table" and "table" not in only:
                    continue
                if scenario == "bulk" and "bulk" not in only:
                    continue
                res4 = Result(label, size)
                for rep in range(sizes.anchor_reps):
                    log(f"{scenario} rep {rep + 1}")
                    for side, python in [("runapi", ours), *anchors.items()]:
                        impl = "runapi" if side == "runapi" else "wandb"
                        res = run_scenario(python, impl, scenario, args4, env)
                        if res:
                            res4.times.setdefault(side, []).append(res["seconds"])
                results.append(res4)
            if "bulk" in only:
                results[-1].notes.append(
                    "one long frame with a run_id column; runapi: `runs.histories(samples=500)`"
                    " (25 runs per request, 8 requests in flight); wandb: a loop of"
                    " `run.history(samples=500)` concatenated as its `Runs.histories` does"
                )

        # 5b. full histories of many runs to one long frame
        if "many" in only:
            label = "full histories of many runs -> one long frame"
            res5 = Result(label, f"{sizes.many_runs} runs x {sizes.many_rows:,} rows")
            project = {"project": f"{ENTITY}/many"}
            limited = {**project, "max_runs": sizes.many_anchor_runs}
            for rep in range(sizes.anchor_reps):
                log(f"full_many rep {rep + 1}")
                res = run_scenario(ours, "runapi", "full_many", project, env)
                if res:
                    res5.times.setdefault("runapi", []).append(res["seconds"])
                for version, python in anchors.items():
                    res = run_scenario(python, "wandb", "full_many", limited, env)
                    if res:
                        scale = sizes.many_runs / sizes.many_anchor_runs
                        res5.times.setdefault(version, []).append(res["seconds"] * scale)
            res5.notes.append(
                "runapi: `runs.histories(samples=None)` (parquet exports, 8 runs at a time);"
                " wandb: `pandas.DataFrame(list(run.scan_history()))` per run, concatenated,"
                f" timed on the first {sizes.many_anchor_runs} runs and extrapolated linearly"
            )
            results.append(res5)

        # 6. import
        if "import" in only:
            res6 = Result("import", "`python -c 'import X'`")
            for _ in range(sizes.reps + 2):
                res6.times.setdefault("runapi", []).append(time_import(ours, "runapi", env))
                for version, python in anchors.items():
                    res6.times.setdefault(version, []).append(time_import(python, "wandb", env))
            res6.notes.append(
                "whole process wall time, runapi vs wandb; runapi loads its generated client"
                " (pydantic models) on first use, which the scenarios import before timing"
            )
            results.append(res6)

        if "sparse" in only:
            found, ingest["sparse"] = sparse_group(
                ours, anchors, env, filler, ENTITY, sizes.sparse_rows, sizes.reps, sizes.anchor_reps
            )
            results += found
        if "iter" in only:
            results += iteration_group(
                ours,
                anchors,
                env,
                huge,
                sizes.iter_rows,
                min(sizes.iter_long_rows, sizes.huge_rows),
                sizes.reps,
                sizes.anchor_reps,
            )

        # 7. streaming scan of the long run
        if "scan" in only:
            log(f"iterating scan_history over {sizes.huge_rows:,} rows")
            res7 = Result("scan_history() iteration", f"{sizes.huge_rows:,} rows")
            res = run_scenario(ours, "runapi", "scan_iter", {"path": huge}, env)
            if res:
                res7.times["runapi"] = [res["seconds"]]
                res7.extra["runapi peak RSS"] = f"{res['rss_mb']:.0f} MB"
            res7.notes.append("1 repetition; anchors not run (hours at their speed)")
            results.append(res7)
        # 8. artifacts with files: upload and download
        if "artifacts" in only:
            work = data_dir / "artifact-work"
            total, files = sizes.artifact_bytes, sizes.artifact_files
            results += artifact_results(
                total, files, sizes.anchor_reps, ours, anchors, env, work, ENTITY
            )
    finally:
        server.stop()
    exports_cost = None
    if "ingest" in only:
        log(f"ingest with exports on and off: {sizes.ingest_rows:,} rows, 2 servers")
        exports_cost = ingest_cost(lambda d: create_user(d, ENTITY), sizes.ingest_rows, 10)

    if "backends" in only:
        log("backends: SQLite and PostgreSQL side by side")
        results += run_backends(
            ours,
            ENTITY,
            rows_per_writer=sizes.writer_rows,
            table_runs=sizes.backend_runs,
            bulk_runs=sizes.bulk_runs,
            bulk_rows=sizes.bulk_rows,
            reps=sizes.anchor_reps,
        )

    ingest_note = ", ".join(f"{k}: {v:,.0f} rows/s" for k, v in ingest.items())
    versions = ", ".join(anchors) or "none"
    lines = [
        "# runapi benchmarks",
        "",
        f"Machine: {machine()}.",
        f"Mode: {'quick' if opts.quick else 'full'}; anchors: wandb {versions};"
        f" total {time.perf_counter() - started:.0f} s; {time.strftime('%Y-%m-%d %H:%M')};"
        f" server: `runapi serve --workers {opts.server_workers}`.",
        f"Versions: {_versions()}.",
        "Reproduce: `python benchmarks/run.py` (full) or `--quick` (scaled down, as in CI).",
        "Times: median (min-max) of fresh-process repetitions; ratio = anchor / runapi.",
        "",
        "| scenario | size | runapi | "
        + " | ".join(f"wandb {v}" for v in ANCHORS)
        + " | "
        + " | ".join(f"ratio vs {v}" for v in ANCHORS)
        + " |",
        "|" + "---|" * (3 + 2 * len(ANCHORS)),
    ]
    for r in results:
        if r.scenario.startswith(PREFIX):
            continue  # their own table below
        unit = "ms" if r.scenario.startswith("history(") else "s"
        cells = [r.scenario, r.size, fmt(r.times.get("runapi", []), unit)]
        cells += [fmt(r.times.get(v, []), unit) for v in ANCHORS]
        cells += [ratio(r.times.get(v, []), r.times.get("runapi", [])) for v in ANCHORS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Ingest (file_stream, 20,000-row posts encoded beforehand, client-side wall of the"
        f" request): {ingest_note}.",
    ]
    if exports_cost:
        lines.append(f"What history exports cost ingest: {exports_cost}.")
    lines += backends_table(results)
    lines.append("")
    for r in results:
        if r.scenario.startswith(PREFIX):
            continue
        for k, v in r.extra.items():
            lines.append(f"- {r.scenario}: {k}: {v}")
        for n in r.notes:
            lines.append(f"- {r.scenario}: {n}")
    text = "\n".join(lines) + "\n"
    print(text)
    output.write_text(text)
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
