"""The real wandb SDKs (0.21.4 and 0.31.0) log directory artifacts to a spawned
`runapi serve` with tests/sdk/log_artifact.py; runapi reads them (digest, size, file_count,
files, manifest, aliases) and downloads them byte-exact, resuming a partial download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, Server
from sdk_env import make_sdk_env
from venvs import LATEST_WANDB, PINNED_WANDB

import runapi
from runapi._manifest import md5_base64

LOG = ROOT / "tests" / "sdk" / "log_artifact.py"
VERSIONS = {"pinned": PINNED_WANDB, "latest": LATEST_WANDB}
FIRST: dict[str, bytes] = {
    "top.txt": b"top\n",
    "nested/deeper/data.csv": b"a,b\n1,2\n",
    "empty.bin": b"",
    "naïve/größe-日本.txt": "non-ascii ✓\n".encode(),
    "big.bin": bytes(range(256)) * 12_000,
}
SECOND = {**FIRST, "nested/deeper/data.csv": b"a,b\n1,2\n3,4\n"}


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("tag", list(VERSIONS))
def test_runapi_reads_what_wandb_logged(
    tag: str, spawned_server: Server, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    sdk = make_sdk_env(tag, VERSIONS[tag], spawned_server, tmp_path_factory, "sdkread")
    digests = []
    for run_id, files in (("first", FIRST), ("second", SECOND)):
        source = write_dir(tmp_path / run_id, files)
        out = tmp_path / f"{run_id}.json"
        code, _, output = sdk.run(LOG, "sdkread", run_id, "ds", str(source), run_id, str(out))
        assert code == 0, f"wandb {sdk.version} failed logging {run_id}:\n{output[-4000:]}"
        digests.append(json.loads(out.read_text())["digest"])

    with runapi.Api(api_key=sdk.user.api_key, base_url=spawned_server.url) as api:
        for version, alias, files, digest in (
            ("v0", "first", FIRST, digests[0]),
            ("v1", "latest", SECOND, digests[1]),
        ):
            artifact = api.artifact(f"{sdk.user.entity}/sdkread/ds:{alias}")
            assert artifact.version == version
            assert artifact.state == "COMMITTED"
            assert artifact.digest == digest == artifact.manifest.digest
            assert artifact.size == sum(len(b) for b in files.values())
            assert artifact.file_count == len(files)
            listed = {f.name: (f.size, f.digest) for f in artifact.files()}
            assert listed == {n: (len(b), md5_base64(b)) for n, b in files.items()}
            assert artifact.file("naïve/größe-日本.txt").size == len(FIRST["naïve/größe-日本.txt"])

            root = tmp_path / f"down-{version}"
            assert read_tree(artifact.download(root=root, progress=False)) == files
            (root / "big.bin").unlink()
            (root / "top.txt").write_bytes(b"stale")
            assert read_tree(artifact.download(root=root, progress=False)) == files

        second = api.artifact(f"{sdk.user.entity}/sdkread/ds:second")
        assert {"latest", "second"} <= set(second.aliases)
        unchanged = second.manifest.entries["top.txt"]
        assert unchanged.birth_artifact_id == api.artifact(f"{sdk.user.entity}/sdkread/ds:v0").id
