"""Log a directory artifact with plain wandb; run in a subprocess by tests/test_sdk_artifacts.py.

    python tests/sdk/log_artifact.py PROJECT RUN_ID NAME DIRECTORY ALIAS OUT.json

One run (online; the server and key come from WANDB_BASE_URL / WANDB_API_KEY, as for any
user's script) logs DIRECTORY as the artifact NAME of type ``dataset`` with
``add_dir`` (metadata ``{"run": RUN_ID}``) and ``run.log_artifact(..., aliases=[ALIAS],
tags=["tag-" + ALIAS])``, then ``wandb.finish()``:
no ``wait()``, so the SDK's own upload and commit at exit are what is tested. OUT.json gets
the wandb version and the digest wandb computed locally.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import wandb


def main(project: str, run_id: str, name: str, directory: str, alias: str, out: Path) -> None:
    run = wandb.init(project=project, id=run_id)
    artifact = wandb.Artifact(
        name, type="dataset", description="a directory from the SDK", metadata={"run": run_id}
    )
    artifact.add_dir(directory)
    run.log_artifact(artifact, aliases=[alias], tags=[f"tag-{alias}"])
    digest = artifact.digest
    wandb.finish()
    out.write_text(json.dumps({"wandb_version": wandb.__version__, "digest": digest}))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], a[3], a[4], Path(a[5]))
