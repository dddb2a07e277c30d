"""Drive the real `wandb` public API against a runapi server; record what it reads.

Run in a subprocess by tests/test_wandb_compat.py (never imported by pytest):

    python tests/compat/wandb_public_api.py SPEC.json RESULTS.json

SPEC.json names the seeded entity, project, runs and a work dir. The server and key come
from WANDB_BASE_URL / WANDB_API_KEY, as for any wandb user. Every step is recorded under its
name in RESULTS.json as {"ok": value} or {"error": "..."}; the file is rewritten after each
step, so a hang or crash still leaves the steps before it. Values use plain JSON (NaN as the
bare token, as the wire does).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import wandb
from wandb.apis.public import Run

Step = Callable[[], Any]


class Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.results: dict[str, Any] = {}

    def step(self, name: str, fn: Step) -> Any:
        started = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # recorded for the test to report, not swallowed
            self.results[name] = {
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(limit=6),
            }
            value = None
        else:  # a JSON snapshot now: later steps may change the objects
            self.results[name] = {"ok": json.loads(json.dumps(plain(value), default=repr))}
        self.results[name]["seconds"] = round(time.monotonic() - started, 3)
        self.out.write_text(json.dumps(self.results, default=repr))
        return value


def plain(value: Any) -> Any:
    """wandb's summary hands out nested mapping objects: turn them into plain JSON values."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "entity": run.entity,
        "project": run.project,
        "state": run.state,
        "storage_id": run.storage_id,
        "path": run.path,
        "url": run.url,
        "config": plain(run.config),
        "summary": plain(run.summary),
        "tags": list(run.tags),
        "group": run.group,
        "job_type": run.job_type,
        "notes": run.notes,
        "created_at": run.created_at,
        "last_history_step": run.lastHistoryStep,
    }


def artifact_summary(artifact: Any) -> dict[str, Any]:
    # Not `artifact.digest`: wandb 0.21.4 computes it from the manifest, which the server
    # does not store (currentManifest is null).
    return {
        "id": artifact.id,
        "name": artifact.name,
        "source_name": artifact.source_name,
        "type": artifact.type,
        "version": artifact.version,
        "aliases": sorted(artifact.aliases),
        "metadata": dict(artifact.metadata),
    }


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    entity, project = spec["entity"], spec["project"]
    work = Path(spec["work_dir"])
    rec = Recorder(Path(out_path))
    path = f"{entity}/{project}"
    main_id, failed_id, user_id = spec["main_run"], spec["failed_run"], spec["user_run"]

    api = rec.step("api", lambda: wandb.Api(timeout=20))
    if api is None:
        return 1
    rec.step("default_entity", lambda: api.default_entity)

    run = rec.step("run", lambda: api.run(f"{path}/{main_id}"))
    if run is None:
        return 1
    rec.step("run_attrs", lambda: run_summary(run))
    rec.step("run_by_runs_path", lambda: api.run(f"{path}/runs/{main_id}").id)
    rec.step("metadata", lambda: run.metadata)

    def runs(filters: dict[str, Any] | None, order: str) -> dict[str, Any]:
        found = api.runs(path, filters=filters, order=order, per_page=2)
        return {"ids": [r.id for r in found], "len": len(found)}

    for name, filters, order in spec["runs_queries"]:
        rec.step(f"runs:{name}", lambda f=filters, o=order: runs(f, o))
    rec.step("runs_bad_filter", lambda: runs({"config.lr": {"$bogus": 1}}, "+created_at"))
    rec.step("runs_index", lambda: api.runs(path, order="+created_at", per_page=2)[3].id)
    rec.step("missing_run", lambda: api.run(f"{path}/nosuchrun").id)
    rec.step("bad_key", lambda: wandb.Api(api_key="local-" + "0" * 40, timeout=20).viewer)

    rec.step("history", lambda: run.history(pandas=False))

    def history_frame() -> dict[str, Any]:
        frame = run.history()
        return {"shape": list(frame.shape), "columns": sorted(frame.columns)}

    rec.step("history_pandas", history_frame)
    rec.step("history_samples", lambda: run.history(samples=10, pandas=False))
    rec.step("history_keys", lambda: run.history(keys=["loss", "acc"], pandas=False))
    rec.step("history_system", lambda: run.history(stream="system", pandas=False))
    rec.step("scan_history", lambda: list(run.scan_history(page_size=7)))
    rec.step("scan_history_keys", lambda: list(run.scan_history(keys=["acc"], page_size=9)))
    rec.step(
        "scan_history_window", lambda: list(run.scan_history(min_step=10, max_step=50, page_size=8))
    )
    rec.step(
        "scan_history_keys_window",
        lambda: list(run.scan_history(keys=["loss"], min_step=5, max_step=25, page_size=6)),
    )

    def files() -> list[dict[str, Any]]:
        return sorted(
            (
                {"name": f.name, "size": f.size, "md5": f.md5, "mimetype": f.mimetype}
                for f in run.files(per_page=2)
            ),
            key=lambda f: f["name"],
        )

    rec.step("files", files)
    rec.step("files_pattern", lambda: sorted(f.name for f in run.files(pattern="%.json")))
    rec.step("files_len", lambda: len(run.files()))

    def download() -> dict[str, str]:
        got = {}
        for name in spec["download"]:
            target = work / "downloads"
            with run.file(name).download(root=str(target), replace=True):
                pass
            got[name] = hashlib.md5((target / name).read_bytes()).hexdigest()
        return got

    rec.step("download", download)

    def update() -> dict[str, Any]:
        run.config["lr"] = 0.02
        run.config["added"] = {"by": "wandb"}
        run.summary["acc"] = 0.99
        run.summary["wandb_note"] = "updated"
        run.tags.append("from-wandb")
        run.notes = "notes from wandb"
        run.name = "renamed by wandb"
        run.update()
        reloaded = api.run(f"{path}/{main_id}")
        return run_summary(reloaded)

    rec.step("update", update)

    def upload() -> dict[str, Any]:
        root = work / "upload-root"
        target = root / "notes" / "readme.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec["upload_text"])
        uploaded = run.upload_file(str(target), root=str(root))
        listed = sorted(f.name for f in api.run(f"{path}/{main_id}").files())
        return {"name": uploaded.name, "size": uploaded.size, "listed": listed}

    rec.step("upload_file", upload)

    logged = rec.step(
        "logged_artifacts", lambda: [artifact_summary(a) for a in run.logged_artifacts()]
    )
    failed = api.run(f"{path}/{failed_id}")
    rec.step("used_artifacts", lambda: [artifact_summary(a) for a in failed.used_artifacts()])

    def use_artifact() -> list[dict[str, Any]]:
        artifact = next(iter(run.logged_artifacts()))
        user = api.run(f"{path}/{user_id}")
        user.use_artifact(artifact)
        return [artifact_summary(a) for a in api.run(f"{path}/{user_id}").used_artifacts()]

    if logged:
        rec.step("use_artifact", use_artifact)
    rec.step(
        "api_artifact",
        lambda: artifact_summary(api.artifact(f"{path}/{spec['artifact_name']}:latest")),
    )

    def create() -> dict[str, Any]:
        created = Run.create(api, run_id=spec["created_run"], project=project, entity=entity)
        loaded = api.run(f"{path}/{spec['created_run']}")
        return {"created": created.id, "loaded": loaded.id, "state": loaded.state}

    rec.step("run_create", create)

    def create_default_entity() -> dict[str, Any]:
        created = Run.create(api, run_id=spec["created_run"] + "x", project=project)
        return {"entity": created.entity, "project": created.project, "id": created.id}

    rec.step("run_create_default_entity", create_default_entity)

    def delete() -> str:
        api.run(f"{path}/{spec['created_run']}").delete()
        try:
            wandb.Api(timeout=20).run(f"{path}/{spec['created_run']}")
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "still there"

    rec.step("delete", delete)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
