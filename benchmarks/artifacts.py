"""Benchmark group of issue 11: artifact upload and download, runapi against the wandb
anchors on the same server (many files and one file of the same total size)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.harness import Result, log, run_scenario


def make_tree(root: Path, total: int, files: int) -> Path:
    """`files` files of random bytes, `total` bytes in all, under `root/` in 10 folders.

    Fresh random bytes every call: the server stores content by MD5, so a second upload of
    the same bytes would send nothing."""
    size, extra = divmod(total, files)
    for i in range(files):
        path = root / f"part-{i % 10}" / f"file-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size + (1 if i < extra else 0)))
    return root


def artifact_results(
    total: int,
    many: int,
    reps: int,
    ours: Path,
    anchors: dict[str, Path],
    env: dict[str, str],
    work: Path,
    entity: str,
) -> list[Result]:
    """Upload and download of `total` bytes in `many` files and in 1 file, `reps` times
    for each side, alternating."""
    out: list[Result] = []
    for files in (many, 1):
        label = f"{total / (1 << 20):,.0f} MiB in {files:,} file{'s' if files > 1 else ''}"
        up = Result("artifact upload (log_artifact, committed)", label)
        down = Result("artifact download (every file, MD5 checked)", label)
        source = f"dl{files}"
        log(f"artifacts: {label}, the version every side downloads")
        tree = make_tree(work / "source", total, files)
        seed_args = {"dir": str(tree), "project": "art", "name": source}
        seeded = run_scenario(ours, "runapi", "artifact_upload", seed_args, env)
        shutil.rmtree(tree)
        for rep in range(reps):
            for side, python in [("runapi", ours), *anchors.items()]:
                impl = "runapi" if side == "runapi" else "wandb"
                log(f"artifacts {label}: {side} rep {rep + 1}")
                tree = make_tree(work / f"up-{side}", total, files)
                name = f"up{files}-{side.replace('.', '_')}-{rep}"
                args = {"dir": str(tree), "project": "art", "name": name}
                res = run_scenario(python, impl, "artifact_upload", args, env)
                shutil.rmtree(tree)
                if res:
                    up.times.setdefault(side, []).append(res["seconds"])
                if seeded is None:
                    continue
                root = work / f"down-{side}"
                args = {"path": f"{entity}/art/{source}:v0", "root": str(root)}
                res = run_scenario(python, impl, "artifact_download", args, env)
                shutil.rmtree(root, ignore_errors=True)
                if res:
                    down.times.setdefault(side, []).append(res["seconds"])
        up.notes.append(
            "fresh random bytes per run (the server stores by MD5); runapi: `add_dir` +"
            " `log_artifact`; wandb: `add_dir` + `log_artifact(...).wait()` + `finish()`,"
            " `wandb.init` not timed"
        )
        down.notes.append(
            "runapi: `Artifact.download()`; wandb: `download(skip_cache=True)`; both timed"
            " from `api.artifact(...)`, after the client's first request"
        )
        out += [up, down]
    return out
