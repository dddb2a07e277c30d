"""Download an artifact with ``wandb.Api()``; run in a subprocess by
tests/test_sdk_artifact_download.py.

    python tests/sdk/artifact_download.py ENTITY/PROJECT/NAME:ALIAS ROOT OUT.json

The server and key come from WANDB_BASE_URL / WANDB_API_KEY. OUT.json gets what wandb
reads of the version (name, digest, size, file count, aliases, each listed file's name and
size) and the directory `download(root=ROOT)` returned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import wandb


def main() -> None:
    path, root, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    artifact = wandb.Api().artifact(path)
    listed = {f.name: f.size for f in artifact.files()}
    downloaded = artifact.download(root=root)
    result = {
        "name": artifact.name,
        "version": artifact.version,
        "digest": artifact.digest,
        "size": artifact.size,
        "file_count": artifact.file_count,
        "aliases": sorted(artifact.aliases),
        "files": listed,
        "manifest": sorted(artifact.manifest.entries),
        "root": str(downloaded),
    }
    out.write_text(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
