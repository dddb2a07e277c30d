"""runapi logs an artifact with files; the real wandb.Api (0.21.4, the project's venv, and
the current release, a venv of its own: tests/sdk/venvs.py) reads and downloads it
byte-exact from a spawned `runapi serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Server, User

import runapi

sys.path.insert(0, str(ROOT / "tests" / "sdk"))
from venvs import LATEST_WANDB, PINNED_WANDB, sdk_python

SCRIPT = ROOT / "tests" / "sdk" / "artifact_download.py"
TIMEOUT_S = 180
TREE: dict[str, bytes] = {
    "top.txt": b"top\n",
    "nested/deeper/data.bin": bytes(range(256)) * 1000,
    "nested/empty.txt": b"",
    "ünïcödé/名前.txt": "non-ASCII ✓".encode(),
}


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def logged(spawned_server: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[User, str]:
    """A runapi user with two versions of `ds` logged by runapi (v1 changes one file)."""
    user = User(name="artsdk", api_key=spawned_server.create_user("artsdk"), server=spawned_server)
    source = tmp_path_factory.mktemp("art-src")
    for name, data in TREE.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    with runapi.Api(api_key=user.api_key, base_url=spawned_server.url) as api:
        run = runapi.Run.create(api, project="sdkart", state="finished")
        for content in (b"top\n", b"top, changed\n"):
            (source / "top.txt").write_bytes(content)
            spec = runapi.ArtifactSpec("ds", "dataset")
            spec.add_dir(source)
            run.log_artifact(spec, aliases=["custom"] if content == b"top\n" else None)
    return user, f"{user.entity}/sdkart"


@pytest.mark.parametrize("version", [PINNED_WANDB, LATEST_WANDB])
@pytest.mark.parametrize(
    ("alias", "top"), [("v0", b"top\n"), ("custom", b"top\n"), ("latest", b"top, changed\n")]
)
def test_wandb_downloads_what_runapi_logged(
    logged: tuple[User, str], tmp_path: Path, version: str, alias: str, top: bytes
) -> None:
    user, project = logged
    python = sdk_python(version)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        WANDB_BASE_URL=user.server.url,
        WANDB_API_KEY=user.api_key,
        WANDB_SILENT="true",
        WANDB_CACHE_DIR=str(tmp_path / "cache"),
        WANDB_CONFIG_DIR=str(tmp_path / "config"),
        WANDB_DATA_DIR=str(tmp_path / "data"),
        HOME=str(tmp_path),
    )
    out = tmp_path / "out.json"
    root = tmp_path / "root"
    proc = subprocess.run(
        [str(python), str(SCRIPT), f"{project}/ds:{alias}", str(root), str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    seen = json.loads(out.read_text())
    expected = {**TREE, "top.txt": top}
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        ours = api.artifact(f"{project}/ds:{alias}")
        assert seen["digest"] == ours.digest == ours.manifest.digest
        assert seen["size"] == ours.size == sum(len(b) for b in expected.values())
        assert seen["file_count"] == ours.file_count == len(expected)
        assert seen["name"] == f"ds:{alias}"  # wandb keeps the alias it was asked for
        assert seen["version"] == ours.version
        assert set(seen["aliases"]) == set(ours.aliases)
    assert seen["files"] == {name: len(data) for name, data in expected.items()}
    assert seen["manifest"] == sorted(expected)
    assert Path(seen["root"]) == root
    assert read_tree(root) == expected
