"""Read a logged run back with ``wandb.Api()``; run in a subprocess by tests/test_sdk_logging.py.

    python tests/sdk/read_back.py ENTITY/PROJECT/RUN_ID OUT.json DOWNLOAD_DIR

The server and key come from WANDB_BASE_URL / WANDB_API_KEY. OUT.json gets the run's
state, config, summary, every history row (``scan_history`` and ``history``), the
system-metrics rows, the latest system metrics, metadata and each file's name, size and
downloaded bytes' md5. Values are plain JSON (NaN as the bare token).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wandb


def plain(value: Any) -> Any:
    """wandb hands out mapping-like summary objects: turn them into plain JSON values."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def files(run: Any, download_dir: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for f in run.files():
        f.download(root=str(download_dir), replace=True)
        content = (download_dir / f.name).read_bytes()
        found[f.name] = {"size": f.size, "md5": hashlib.md5(content).hexdigest()}
    return found


def main(path: str, out: Path, download_dir: Path) -> None:
    api: Any = wandb.Api(timeout=30)
    run = api.run(path)
    result = {
        "wandb_version": wandb.__version__,
        "id": run.id,
        "state": run.state,
        "config": plain(run.config),
        "summary": plain(run.summary),
        "scan_history": [plain(r) for r in run.scan_history()],
        "history": plain(run.history(samples=10_000, pandas=False)),
        "events": plain(run.history(stream="system", pandas=False)),
        "system_metrics": plain(run.system_metrics),
        "metadata": plain(run.metadata),
        "last_history_step": run.lastHistoryStep,
        "files": files(run, download_dir),
    }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
