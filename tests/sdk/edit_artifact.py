"""Derive a new version from a logged one, then edit it; run in a subprocess by
tests/test_sdk_artifacts.py.

    python tests/sdk/edit_artifact.py PROJECT RUN_ID NAME:ALIAS REMOVE ADD_FILE ADD_NAME OUT.json
        [--alias]

One run uses NAME:ALIAS, makes ``new_draft()``, removes the entry REMOVE, adds ADD_FILE as
ADD_NAME and logs the draft with alias ``drafted``, then finishes. Afterwards
``wandb.Api()`` reads NAME:drafted (version, digest, files), downloads it, then sets its
description, metadata and tags (with ``--alias`` also adds the alias ``edited``: wandb 0.31
sends alias edits as ``addAliases``, which the server does not have) and ``save()``s them;
a fresh ``Api`` reads them back. OUT.json gets all of it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import wandb


def main(
    project: str, run_id: str, ref: str, remove: str, add: str, add_name: str, alias: bool
) -> Any:
    run = wandb.init(project=project, id=run_id, job_type="derive")
    draft = run.use_artifact(ref).new_draft()
    draft.remove(remove)
    draft.add_file(add, name=add_name)
    run.log_artifact(draft, aliases=["drafted"])
    entity = run.entity
    wandb.finish()
    path = f"{entity}/{project}/{ref.split(':')[0]}:drafted"
    artifact = wandb.Api(timeout=30).artifact(path)
    root = Path(artifact.download(root=str(Path.cwd() / f"drafted-{run_id}")))
    derived = {
        "version": artifact.version,
        "digest": artifact.digest,
        "downloaded": {
            p.relative_to(root).as_posix(): [
                p.stat().st_size,
                hashlib.md5(p.read_bytes()).hexdigest(),
            ]
            for p in sorted(root.rglob("*"))
            if p.is_file()
        },
    }
    artifact.description = "edited with save()"
    artifact.metadata = {"edited": True, "nested": {"n": 1}}
    artifact.tags = [*artifact.tags, "edited"]
    if alias:
        artifact.aliases = [*artifact.aliases, "edited"]
    artifact.save()
    again = wandb.Api(timeout=30).artifact(path)
    edited = {
        "description": again.description,
        "metadata": dict(again.metadata),
        "tags": sorted(again.tags),
        "aliases": sorted(again.aliases),
    }
    return {"wandb_version": wandb.__version__, "derived": derived, "edited": edited}


if __name__ == "__main__":
    a = sys.argv[1:]
    result = main(a[0], a[1], a[2], a[3], a[4], a[5], alias="--alias" in a[7:])
    Path(a[6]).write_text(json.dumps(result))
