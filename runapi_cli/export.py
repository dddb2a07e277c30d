"""`runapi export`: every run of a project to a directory, resumably.

Layout of `--out DIR`, one directory per run:

```
DIR/<run_id>/run.json          id, name, state, tags, notes, config, summary, metadata, ...
DIR/<run_id>/history.parquet   every history row (pyarrow)
DIR/<run_id>/manifest.json     written last: the export is complete
```

A run is exported into `DIR/.<run_id>.partial/` and renamed into place only when whole,
so an interrupted export leaves no half run. A rerun skips every run whose manifest
records the same `updated_at` and history line count as the server now reports; runs
that changed since are exported again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import runapi
from runapi.frames import require
from runapi.progress import Progress, progress_enabled
from runapi_cli.common import cell, make_api, parse_json_object, progress_flag

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

EXAMPLES = """\
examples:
  runapi export alice/mnist --out mnist-export
  runapi export alice/mnist --out finished --filters '{"state": "finished"}'
  # read a run back: pyarrow.parquet.read_table("mnist-export/1a2b3c4d/history.parquet")
"""


def _fingerprint(run: runapi.Run) -> dict[str, Any]:
    return {
        "updated_at": cell(run.updated_at),
        "history_line_count": run.history_line_count,
        "state": run.state,
    }


def is_complete(run_dir: Path, run: runapi.Run) -> bool:
    """Whether `run_dir` holds a whole export of `run` as it is now."""
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        return False
    return all(manifest.get(k) == v for k, v in _fingerprint(run).items())


def _run_json(run: runapi.Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "path": run.path,
        "url": run.url,
        "name": run.name,
        "display_name": run.display_name,
        "state": run.state,
        "created_at": cell(run.created_at),
        "updated_at": cell(run.updated_at),
        "heartbeat_at": cell(run.heartbeat_at),
        "tags": run.tags,
        "notes": run.notes,
        "group": run.group,
        "job_type": run.job_type,
        "description": run.description,
        "config": run.config,
        "summary": run.summary,
        "system_metrics": run.system_metrics,
        "metadata": run.metadata,
    }


def export_run(run: runapi.Run, out_dir: Path) -> int:
    """Export `run` into `out_dir/<run_id>/` (whole or not at all); return its row count."""
    import pyarrow.parquet as pq

    final = out_dir / run.id
    partial = out_dir / f".{run.id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        fingerprint = _fingerprint(run)
        (partial / "run.json").write_text(json.dumps(_run_json(run), indent=2, default=cell))
        table = run.scan_history().to_arrow()  # parquet exports first: the fast path
        pq.write_table(table, partial / "history.parquet")
        manifest = {
            "format_version": FORMAT_VERSION,
            **fingerprint,
            "rows": table.num_rows,
            "files": ["run.json", "history.parquet"],
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if final.exists():
            old = out_dir / f".{run.id}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            partial.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    rows: int = table.num_rows
    return rows


def cmd_export(args: argparse.Namespace) -> int:
    require("pyarrow", "arrow")
    filters = parse_json_object(args.filters, "--filters")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = progress_flag(args)
    exported = skipped = 0
    with make_api(args) as api:
        runs = api.runs(args.project_path, filters=filters, per_page=100)
        total = len(runs) if progress_enabled(progress) else None
        with Progress(total, unit="runs", label="export", enabled=progress) as bar:
            for run in runs:
                if is_complete(out_dir / run.id, run):
                    skipped += 1
                    bar.echo(f"skipped {run.id} (already exported)", sys.stderr)
                else:
                    rows = export_run(run, out_dir)
                    exported += 1
                    bar.echo(f"exported {run.id} ({rows} history rows)", sys.stderr)
                bar.update(1)
    print(f"{exported} exported, {skipped} already complete, in {out_dir}")
    return 0


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Register `export` on `commands`."""
    export = commands.add_parser(
        "export",
        parents=[parent],
        help="export every run of a project (config, summary, history) to parquet",
        description="Export each run of ENTITY/PROJECT: run.json (config, summary, metadata, "
        "...) and history.parquet with every row. Resumable: a rerun skips runs whose "
        "export is complete and unchanged. Needs pyarrow (pip install 'runapi[arrow]').",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("project_path", metavar="ENTITY/PROJECT")
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="target directory")
    export.add_argument("--filters", metavar="JSON", help="MongoDB-style filters")
    export.set_defaults(handler=cmd_export)
