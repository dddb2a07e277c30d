"""`runapi runs`, `runapi history`, `runapi files` and `runapi download`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import runapi
from runapi.frames import ColumnBuilder, require, run_record
from runapi.progress import Progress
from runapi_cli.common import (
    CommandError,
    UsageError,
    atomic_path,
    cell,
    make_api,
    parse_json_object,
    print_table,
    progress_flag,
)

RUNS_EXAMPLES = """\
examples:
  runapi runs alice/mnist
  runapi runs alice/mnist --filters '{"state": "finished"}'
  runapi runs alice/mnist --order=-summary_metrics.acc   # '=' before a leading '-'
  runapi runs alice/mnist --format csv > runs.csv       # config.* and summary.* columns
  runapi runs alice/mnist --format json | jq '.[].summary.loss'
"""

HISTORY_EXAMPLES = """\
examples:
  runapi history alice/mnist/1a2b3c4d                        # 500 sampled rows as CSV
  runapi history alice/mnist/1a2b3c4d --keys loss acc --samples 100
  runapi history alice/mnist/1a2b3c4d --all --out loss.parquet  # every row (needs pyarrow)
  runapi history https://wandb.ai/alice/mnist/runs/1a2b3c4d --all --out h.jsonl
"""

FILES_EXAMPLES = """\
examples:
  runapi files alice/mnist/1a2b3c4d
  runapi files alice/mnist/1a2b3c4d --pattern '*.json'
"""

DOWNLOAD_EXAMPLES = """\
examples:
  runapi download alice/mnist/1a2b3c4d --dir out          # every file of the run
  runapi download alice/mnist/1a2b3c4d --pattern 'media/*' --replace
"""

FORMATS = ("table", "csv", "json")
OUT_SUFFIXES = (".parquet", ".csv", ".jsonl")


# --------------------------------------------------------------------------- runs


def cmd_runs(args: argparse.Namespace) -> int:
    out = sys.stdout
    filters = parse_json_object(args.filters, "--filters")
    with make_api(args) as api:
        runs = api.runs(args.project_path, filters=filters, order=args.order, per_page=100)
        progress = Progress(None, unit="runs", label="runs", enabled=progress_flag(args))
        with progress:
            records = []
            for run in runs:
                records.append(run_record(run))
                progress.update(1)
    if args.format == "json":
        # Nested config/summary are kept whole in JSON (not flattened).
        json.dump([_json_record(r) for r in records], out, indent=2, default=cell)
        out.write("\n")
    elif args.format == "csv":
        write_csv(records, out)
    else:
        headers = ["id", "name", "state", "created_at", "tags"]
        rows = [[cell(r[h]) if h != "tags" else ",".join(r[h]) for h in headers] for r in records]
        print_table(rows, headers, out)
    return 0


def _json_record(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"config": {}, "summary": {}}
    for key, value in record.items():
        head, dot, rest = key.partition(".")
        if dot and head in ("config", "summary"):
            out[head][rest] = value
        else:
            out[key] = value
    return out


def write_csv(records: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """Records as CSV: the union of their keys (in order seen) as columns."""
    builder = ColumnBuilder()
    builder.add(list(records))
    _write_columns_csv(builder, out)


# --------------------------------------------------------------------------- history


def _history_pages(
    run: runapi.Run, args: argparse.Namespace
) -> tuple[Iterator[list[dict[str, Any]]], int | None]:
    keys = list(args.keys) if args.keys else None
    if args.all:
        return run.scan_history(keys=keys).pages(), run.history_line_count
    rows = run.history(samples=args.samples, keys=keys, pandas=False)
    return iter([rows]), None


def cmd_history(args: argparse.Namespace) -> int:
    out = sys.stdout
    target: Path | None = args.out
    if target is not None and target.suffix not in OUT_SUFFIXES:
        raise UsageError(f"--out must end in {', '.join(OUT_SUFFIXES)}, not {str(target)!r}")
    if target is not None and target.suffix == ".parquet":
        require("pyarrow", "arrow")
    with make_api(args) as api:
        run = api.run(args.run_path)
        pages, total = _history_pages(run, args)
        bar = Progress(total, unit="rows", label=run.id, enabled=progress_flag(args))
        builder = ColumnBuilder()
        with bar:
            for page in pages:
                builder.add(page)
                bar.update(len(page))
    if target is None:
        _write_columns_csv(builder, out)
        return 0
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(builder.to_arrow(), tmp)
        elif target.suffix == ".csv":
            with tmp.open("w", newline="") as handle:
                _write_columns_csv(builder, handle)
        else:
            with tmp.open("w") as handle:
                _write_columns_jsonl(builder, handle)
    print(f"wrote {builder.row_count} rows to {target}", file=sys.stderr)
    return 0


def _write_columns_csv(builder: ColumnBuilder, out: IO[str]) -> None:
    columns = builder.columns()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(columns))
    for i in range(builder.row_count):
        writer.writerow([cell(values[i]) for values in columns.values()])


def _write_columns_jsonl(builder: ColumnBuilder, out: IO[str]) -> None:
    columns = builder.columns()
    for i in range(builder.row_count):
        row = {name: values[i] for name, values in columns.items() if values[i] is not None}
        out.write(json.dumps(row) + "\n")


# --------------------------------------------------------------------------- files


def _matching_files(run: runapi.Run, pattern: str | None) -> list[runapi.File]:
    return list(run.files(pattern=pattern, per_page=200))


def cmd_files(args: argparse.Namespace) -> int:
    out = sys.stdout
    with make_api(args) as api:
        run = api.run(args.run_path)
        files = _matching_files(run, args.pattern)
    rows = [[f.name, str(f.size), cell(f.updated_at)] for f in files]
    print_table(rows, ["name", "size", "updated_at"], out)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    out = sys.stdout
    root: Path = args.dir
    with make_api(args) as api:
        run = api.run(args.run_path)
        files = _matching_files(run, args.pattern)
        if not files:
            raise CommandError(f"run {'/'.join(run.path)} has no files matching {args.pattern!r}")
        total = sum(f.size for f in files)
        bar = Progress(total, unit="bytes", label="download", enabled=progress_flag(args))
        skipped = 0
        with bar:
            for item in files:
                try:
                    path = item.download(root=root, replace=args.replace, progress=False)
                except FileExistsError:
                    skipped += 1
                    bar.echo(f"skipped {item.name}: exists (--replace overwrites)", sys.stderr)
                else:
                    bar.echo(str(path), out)
                bar.update(item.size)
    if skipped:
        print(f"{skipped} file(s) skipped", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- parsers


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Register `runs`, `history`, `files` and `download` on `commands`."""
    raw = argparse.RawDescriptionHelpFormatter
    runs = commands.add_parser(
        "runs",
        parents=[parent],
        help="list the runs of a project",
        description="List the runs of ENTITY/PROJECT, optionally filtered and ordered.",
        epilog=RUNS_EXAMPLES,
        formatter_class=raw,
    )
    runs.add_argument("project_path", metavar="ENTITY/PROJECT")
    runs.add_argument(
        "--filters", metavar="JSON", help="MongoDB-style filters, e.g. '{\"config.lr\": 0.1}'"
    )
    runs.add_argument(
        "--order",
        metavar="F",
        default="+created_at",
        help="+field or -field; write --order=-field (default: +created_at)",
    )
    runs.add_argument("--format", choices=FORMATS, default="table", help="output format")
    runs.set_defaults(handler=cmd_runs)

    history = commands.add_parser(
        "history",
        parents=[parent],
        help="print or save a run's history",
        description="A run's history: sampled rows (default 500), or every row with --all. "
        "Printed as CSV, or written to --out (.parquet needs pyarrow, .csv, .jsonl); the file "
        "appears whole or not at all.",
        epilog=HISTORY_EXAMPLES,
        formatter_class=raw,
    )
    history.add_argument("run_path", metavar="PATH", help="entity/project/run_id or a run URL")
    history.add_argument("--keys", nargs="+", metavar="K", help="only these metrics")
    amount = history.add_mutually_exclusive_group()
    amount.add_argument(
        "--samples", type=_positive, default=500, metavar="N", help="rows to sample (default 500)"
    )
    amount.add_argument("--all", action="store_true", help="every row (a full scan)")
    history.add_argument("--out", type=Path, metavar="FILE", help="FILE.parquet|.csv|.jsonl")
    history.set_defaults(handler=cmd_history)

    files = commands.add_parser(
        "files",
        parents=[parent],
        help="list a run's files",
        description="List a run's files: name, size in bytes, last update.",
        epilog=FILES_EXAMPLES,
        formatter_class=raw,
    )
    files.add_argument("run_path", metavar="PATH", help="entity/project/run_id or a run URL")
    files.add_argument("--pattern", metavar="P", help="a glob such as '*.json' (or SQL LIKE)")
    files.set_defaults(handler=cmd_files)

    download = commands.add_parser(
        "download",
        parents=[parent],
        help="download a run's files",
        description="Download a run's files into --dir (each written whole, then renamed); "
        "prints each path. Existing files are skipped unless --replace.",
        epilog=DOWNLOAD_EXAMPLES,
        formatter_class=raw,
    )
    download.add_argument("run_path", metavar="PATH", help="entity/project/run_id or a run URL")
    download.add_argument("--pattern", metavar="P", help="a glob such as 'media/*'")
    download.add_argument(
        "--dir", type=Path, default=Path("."), metavar="D", help="target directory (default .)"
    )
    download.add_argument("--replace", action="store_true", help="overwrite existing files")
    download.set_defaults(handler=cmd_download)
