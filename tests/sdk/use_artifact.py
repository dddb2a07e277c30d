"""Use an artifact in a run and download it; run in a subprocess by tests/test_sdk_artifacts.py.

    python tests/sdk/use_artifact.py PROJECT RUN_ID NAME:ALIAS OUT.json DOWNLOAD_DIR

One run (online, server and key from WANDB_BASE_URL / WANDB_API_KEY) calls
``run.use_artifact(NAME:ALIAS)`` and downloads it, then finishes. Afterwards
``wandb.Api()`` lists what the run used and who used the version. OUT.json gets the
version used, the md5 and size of every file written, ``used_artifacts()`` of the run and
the run ids of ``used_by()`` of the version.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import wandb


def main(project: str, run_id: str, ref: str, out: Path, download_dir: Path) -> None:
    run = wandb.init(project=project, id=run_id, job_type="consume")
    artifact = run.use_artifact(ref)
    root = Path(artifact.download(root=str(download_dir)))
    written = {
        p.relative_to(root).as_posix(): [p.stat().st_size, hashlib.md5(p.read_bytes()).hexdigest()]
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    entity, version = run.entity, artifact.version
    wandb.finish()
    api = wandb.Api(timeout=30)
    used = api.run(f"{entity}/{project}/{run_id}").used_artifacts()
    by = api.artifact(f"{entity}/{project}/{ref}").used_by()
    result = {
        "wandb_version": wandb.__version__,
        "version": version,
        "downloaded": written,
        "used": sorted(f"{a.name}" for a in used),
        "used_by": sorted(r.id for r in by),
    }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], Path(a[3]), Path(a[4]))
