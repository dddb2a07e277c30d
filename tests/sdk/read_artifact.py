"""Read artifact versions back with ``wandb.Api()``; run in a subprocess by
tests/test_sdk_artifacts.py.

    python tests/sdk/read_artifact.py SPEC.json OUT.json DOWNLOAD_DIR

SPEC.json is a list of ``{"api_key": KEY, "path": "ENTITY/PROJECT/NAME:ALIAS",
"download": BOOL}``; the server comes from WANDB_BASE_URL. For each path OUT.json gets
(under the same path key) the version's id, version, digest, size, file_count, aliases,
state, description, metadata, tags, its collection's name and tags, the id of the run
that logged it and the versions that run logged (``logged_artifacts``); with
``download`` also the entries of ``files()`` and of the manifest, and the md5 and size
of every file ``download()`` wrote and of each entry downloaded alone
(``get_entry(name).download()``, the SDK's single-file path). With ``"missing": true``
the path must not be found for that key: OUT.json gets ``{"error": <the exception's type
and message>}``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import wandb


def downloaded(root: Path) -> dict[str, Any]:
    return {
        path.relative_to(root).as_posix(): {
            "size": path.stat().st_size,
            "md5": hashlib.md5(path.read_bytes()).hexdigest(),
        }
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def downloaded_entry(artifact: Any, name: str, root: Path) -> dict[str, Any]:
    content = Path(artifact.get_entry(name).download(root=str(root))).read_bytes()
    return {"size": len(content), "md5": hashlib.md5(content).hexdigest()}


def read(api: Any, path: str, download: bool, download_dir: Path) -> dict[str, Any]:
    artifact = api.artifact(path)
    run = artifact.logged_by()
    found = {
        "id": artifact.id,
        "version": artifact.version,
        "digest": artifact.digest,
        "size": artifact.size,
        "file_count": artifact.file_count,
        "aliases": sorted(artifact.aliases),
        "state": artifact.state,
        "description": artifact.description,
        "metadata": dict(artifact.metadata),
        "tags": sorted(artifact.tags),
        "collection": [artifact.collection.name, sorted(artifact.collection.tags)],
        "logged_by": run.id,
        "run_logged": sorted(a.version for a in run.logged_artifacts()),
    }
    if not download:
        return found
    root = download_dir / path.replace("/", "_").replace(":", "_")
    written = Path(artifact.download(root=str(root)))
    return {
        **found,
        "files": sorted([f.name, f.size, f.md5] for f in artifact.files()),
        "manifest": {
            name: [entry.digest, entry.size] for name, entry in artifact.manifest.entries.items()
        },
        "downloaded": downloaded(written),
        "entries": {
            name: downloaded_entry(artifact, name, root.with_name(root.name + "-entries"))
            for name in artifact.manifest.entries
        },
    }


def main(spec: Path, out: Path, download_dir: Path) -> None:
    apis: dict[str, Any] = {}
    result: dict[str, Any] = {"wandb_version": wandb.__version__, "artifacts": {}, "missing": {}}
    for item in json.loads(spec.read_text()):
        key = item["api_key"]
        if key not in apis:
            apis[key] = wandb.Api(api_key=key, timeout=30)
        if item.get("missing"):
            try:
                found = read(apis[key], item["path"], False, download_dir)
            except Exception as exc:  # whatever wandb raises for "not found"
                found = {"error": f"{type(exc).__name__}: {exc}"}
            result["missing"][item["path"]] = found
            continue
        result["artifacts"][item["path"]] = read(
            apis[key], item["path"], item["download"], download_dir
        )
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
