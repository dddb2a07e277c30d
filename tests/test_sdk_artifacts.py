"""The real wandb SDKs log directory artifacts to a spawned `runapi serve` and read them back.

For each SDK version (the project's pinned wandb and the current release, see
tests/sdk/venvs.py), with a user of its own, an unmodified script (tests/sdk/log_artifact.py)
logs a directory with `wandb.Artifact` + `add_dir` + `run.log_artifact(aliases=[custom])` +
`wandb.finish()` (online, no `wait()`), three times:

1. `first`: nested paths, an empty file, a non-ASCII file name and a bigger file (several
   MiB: the SDKs switch to multipart uploads only from 2 GiB, too big for a test; the
   server's multipart path is covered over raw HTTP in tests/test_server_artifact_contents.py);
2. `second`: the same directory with one file changed -> a new version `v1` that uploads
   only the changed file (counted on the server, per user);
3. `again`: the first directory again -> deduplicated to `v0` by digest, nothing uploaded,
   the custom alias added to `v0` and `latest` left on the newest version `v1`.

Then `wandb.Api` of both versions (tests/sdk/read_artifact.py, run with each interpreter)
reads what each version logged (the cross-check: 0.21.4 reads what 0.31.0 logged and vice
versa): digest, size, file_count, `files()`, the manifest, `download()` and each entry's
own `get_entry(name).download()` byte-exact against the source files, the run that logged
it, every alias (`latest`, custom, `v0`/`v1`); another user's key finds nothing. Last, a
consuming run of each SDK (tests/sdk/use_artifact.py) calls `run.use_artifact(NAME:second)`
and downloads it, and `wandb.Api` sees the use from both sides (`used_artifacts`,
`used_by`); and a deriving run (tests/sdk/edit_artifact.py) logs `new_draft()` of `second`
with one file removed and one added (uploading just that file), then edits the new
version's description, metadata and tags with `Artifact.save()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from artifact_upload import logical_digest, stored_uploads
from conftest import ROOT, Server
from sdk_env import SdkEnv, make_sdk_env
from venvs import LATEST_WANDB, PINNED_WANDB

LOG = ROOT / "tests" / "sdk" / "log_artifact.py"
READ = ROOT / "tests" / "sdk" / "read_artifact.py"
USE = ROOT / "tests" / "sdk" / "use_artifact.py"
EDIT = ROOT / "tests" / "sdk" / "edit_artifact.py"
VERSIONS = {"pinned": PINNED_WANDB, "latest": LATEST_WANDB}
PROJECT = "sdk-artifacts"
NAME = "dataset"
BIG_BYTES = 6 * 1024 * 1024 + 12_345
CHANGED = "nested/deeper/data.csv"
# (run id and custom alias, which directory: 0 the first, 1 the changed one)
LOGS = (("first", 0), ("second", 1), ("again", 0))
# Far above the few seconds a log takes, far below the subprocess timeout: a log that
# takes this long is the SDK retrying or polling the server, which is the bug.
LOG_BUDGET_S = 45


def source_files(tag: str) -> dict[str, bytes]:
    """What a writer logs as its first version (distinct bytes per writer)."""
    return {
        "top.txt": f"written by wandb {VERSIONS[tag]}\n".encode(),
        CHANGED: b"a,b\n1,2\n",
        "empty.bin": b"",
        "naïve/größe-日本.txt": "non-ascii ✓\n".encode(),
        "big.bin": random.Random(tag).randbytes(BIG_BYTES),
    }


def changed_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {**files, CHANGED: files[CHANGED] + b"3,4\n"}


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def b64md5(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


@dataclass(frozen=True)
class Logged:
    """What one SDK version logged: its environment, both versions' files, and per log
    (first, second, again) the digest the SDK computed and the file uploads the server got."""

    sdk: SdkEnv
    versions: tuple[dict[str, bytes], dict[str, bytes]]
    digests: list[str]
    uploads: list[int]
    seconds: list[float]

    def path(self, alias: str) -> str:
        return f"{self.sdk.user.entity}/{PROJECT}/{NAME}:{alias}"


def log_all(sdk: SdkEnv) -> Logged:
    data_dir = sdk.user.server.data_dir
    files = source_files(sdk.tag)
    versions = (files, changed_files(files))
    dirs = [write_dir(sdk.work / f"source-v{i}", v) for i, v in enumerate(versions)]
    digests, uploads, seconds = [], [], []
    for run_id, which in LOGS:
        out = sdk.work / f"logged-{run_id}.json"
        before = stored_uploads(data_dir, sdk.user.entity)
        code, took, output = sdk.run(LOG, PROJECT, run_id, NAME, str(dirs[which]), run_id, str(out))
        seconds.append(took)
        assert code == 0, f"wandb {sdk.version} failed logging {run_id}:\n{output[-4000:]}"
        uploads.append(stored_uploads(data_dir, sdk.user.entity) - before)
        reported = json.loads(out.read_text())
        assert reported["wandb_version"] == sdk.version
        digests.append(reported["digest"])
    return Logged(sdk, versions, digests, uploads, seconds)


@pytest.fixture(scope="module")
def logged(spawned_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Logged]:
    return {
        tag: log_all(make_sdk_env(tag, version, spawned_server, tmp_path_factory, "art"))
        for tag, version in VERSIONS.items()
    }


ALIASES = ("v0", "v1", "latest", "first", "second", "again")


@pytest.fixture(scope="module")
def reads(
    logged: dict[str, Logged],
    spawned_server: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, dict[str, Any]]:
    """Per reader tag: what that wandb.Api read of every writer's versions, by path."""
    spec = [
        {"api_key": w.sdk.user.api_key, "path": w.path(alias), "download": alias in ("v0", "v1")}
        for w in logged.values()
        for alias in ALIASES
    ]
    # Each user's key asks for the other user's version: not found.
    pinned, latest = logged["pinned"], logged["latest"]
    spec += [
        {"api_key": mine.sdk.user.api_key, "path": theirs.path("v0"), "missing": True}
        for mine, theirs in ((pinned, latest), (latest, pinned))
    ]
    found: dict[str, dict[str, Any]] = {}
    for tag, version in VERSIONS.items():
        reader = make_sdk_env(tag, version, spawned_server, tmp_path_factory, "artread")
        spec_file, out = reader.work / "spec.json", reader.work / "read.json"
        spec_file.write_text(json.dumps(spec))
        code, _seconds, output = reader.run(
            READ, str(spec_file), str(out), str(reader.work / "downloads")
        )
        assert code == 0, f"wandb.Api {version} failed reading artifacts:\n{output[-4000:]}"
        result = json.loads(out.read_text())
        assert result["wandb_version"] == version
        found[tag] = {**result["artifacts"], "missing": result["missing"]}
    return found


PAIRS = [(w, r) for w in VERSIONS for r in VERSIONS]
PAIR_IDS = [f"{w}-logs-{r}-reads" for w, r in PAIRS]


@pytest.mark.parametrize("writer", list(VERSIONS))
def test_second_version_uploads_only_the_changed_file(
    logged: dict[str, Logged], writer: str
) -> None:
    log = logged[writer]
    assert log.uploads == [len(log.versions[0]), 1, 0]
    assert max(log.seconds) < LOG_BUDGET_S, log.seconds
    expected = [logical_digest(log.versions[which]) for _run, which in LOGS]
    assert log.digests == expected


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=PAIR_IDS)
def test_versions_read_back_byte_exact(
    logged: dict[str, Logged], reads: dict[str, dict[str, Any]], writer: str, reader: str
) -> None:
    log = logged[writer]
    for index, files in enumerate(log.versions):
        read = reads[reader][log.path(f"v{index}")]
        assert read["version"] == f"v{index}"
        assert read["state"] == "COMMITTED"
        assert read["digest"] == logical_digest(files)
        assert read["size"] == sum(map(len, files.values()))
        assert read["file_count"] == len(files)
        entries = {name: [b64md5(content), len(content)] for name, content in files.items()}
        assert read["manifest"] == entries
        assert read["files"] == sorted([name, *entry[::-1]] for name, entry in entries.items())
        expected = {
            name: {"size": len(content), "md5": hashlib.md5(content).hexdigest()}
            for name, content in files.items()
        }
        assert read["downloaded"] == expected
        assert read["entries"] == expected


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=PAIR_IDS)
def test_aliases_resolve_to_the_right_versions(
    logged: dict[str, Logged], reads: dict[str, dict[str, Any]], writer: str, reader: str
) -> None:
    log = logged[writer]
    read = {alias: reads[reader][log.path(alias)] for alias in ALIASES}
    assert read["v0"]["id"] != read["v1"]["id"]
    expected = {"v0": 0, "v1": 1, "latest": 1, "first": 0, "second": 1, "again": 0}
    for alias, index in expected.items():
        assert read[alias]["id"] == read[f"v{index}"]["id"], alias
        assert read[alias]["version"] == f"v{index}", alias
    # The re-logged first directory was deduplicated to v0: its alias went there, and
    # `latest` stayed on the newest version.
    assert read["v0"]["aliases"] == ["again", "first"]
    assert read["v1"]["aliases"] == ["latest", "second"]


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=PAIR_IDS)
def test_description_metadata_tags_and_runs(
    logged: dict[str, Logged], reads: dict[str, dict[str, Any]], writer: str, reader: str
) -> None:
    log = logged[writer]
    for index, run_id in enumerate(("first", "second")):
        read = reads[reader][log.path(f"v{index}")]
        assert read["description"] == "a directory from the SDK"
        assert read["metadata"] == {"run": run_id}
        assert read["logged_by"] == run_id
        assert read["run_logged"] == [f"v{index}"]
        # Collection tags have no mutation in the W&B subset: always empty here.
        assert read["collection"] == [NAME, []]
    # The deduplicated `again` added its tag to v0 and kept v0's metadata.
    assert reads[reader][log.path("v0")]["tags"] == ["tag-again", "tag-first"]
    assert reads[reader][log.path("v1")]["tags"] == ["tag-second"]


@pytest.fixture(scope="module")
def consumed(logged: dict[str, Logged]) -> dict[str, Any]:
    found = {}
    for tag, log in logged.items():
        out = log.sdk.work / "consumed.json"
        downloads = log.sdk.work / "consumed"
        code, _seconds, output = log.sdk.run(
            USE, PROJECT, "consume", f"{NAME}:second", str(out), str(downloads)
        )
        assert code == 0, f"wandb {log.sdk.version} failed using an artifact:\n{output[-4000:]}"
        found[tag] = json.loads(out.read_text())
    return found


@pytest.mark.parametrize("writer", list(VERSIONS))
def test_a_run_uses_and_downloads_a_version(
    logged: dict[str, Logged], consumed: dict[str, Any], writer: str
) -> None:
    files = logged[writer].versions[1]
    assert consumed[writer] == {
        "wandb_version": VERSIONS[writer],
        "version": "v1",
        "downloaded": {
            name: [len(content), hashlib.md5(content).hexdigest()]
            for name, content in files.items()
        },
        "used": [f"{NAME}:v1"],
        "used_by": ["consume"],
    }


ADDED = "added/more/new.txt"
# wandb 0.31's Artifact.save() edits aliases with addAliases/deleteAliases (not served).
EDITS_ALIASES = {"pinned"}


@pytest.fixture(scope="module")
def derived(
    logged: dict[str, Logged], reads: dict[str, Any], consumed: dict[str, Any]
) -> dict[str, tuple[dict[str, Any], int]]:
    """Per writer: what tests/sdk/edit_artifact.py reported, and the file uploads it made.
    (After `reads` and `consumed`: the new version moves `latest`.)"""
    found = {}
    for tag, log in logged.items():
        data_dir, entity = log.sdk.user.server.data_dir, log.sdk.user.entity
        added = log.sdk.work / "added.txt"
        added.write_bytes(f"added by wandb {log.sdk.version}\n".encode())
        out = log.sdk.work / "derived.json"
        before = stored_uploads(data_dir, entity)
        code, _seconds, output = log.sdk.run(
            EDIT,
            PROJECT,
            "derive",
            f"{NAME}:second",
            "top.txt",
            str(added),
            ADDED,
            str(out),
            *(["--alias"] if tag in EDITS_ALIASES else []),
        )
        assert code == 0, f"wandb {log.sdk.version} failed deriving:\n{output[-4000:]}"
        found[tag] = (json.loads(out.read_text()), stored_uploads(data_dir, entity) - before)
    return found


@pytest.mark.parametrize("writer", list(VERSIONS))
def test_a_draft_of_a_version_uploads_only_what_it_adds_and_save_edits_it(
    logged: dict[str, Logged], derived: dict[str, tuple[dict[str, Any], int]], writer: str
) -> None:
    result, uploads = derived[writer]
    files = {k: v for k, v in logged[writer].versions[1].items() if k != "top.txt"}
    files[ADDED] = f"added by wandb {VERSIONS[writer]}\n".encode()
    assert uploads == 1
    assert result["derived"] == {
        "version": "v2",
        "digest": logical_digest(files),
        "downloaded": {
            name: [len(content), hashlib.md5(content).hexdigest()]
            for name, content in files.items()
        },
    }
    assert result["edited"] == {
        "description": "edited with save()",
        "metadata": {"edited": True, "nested": {"n": 1}},
        "tags": ["edited"],
        "aliases": sorted(["drafted", "latest", *(["edited"] if writer in EDITS_ALIASES else [])]),
    }


@pytest.mark.parametrize("reader", list(VERSIONS))
def test_another_users_version_is_not_found(
    logged: dict[str, Logged], reads: dict[str, dict[str, Any]], reader: str
) -> None:
    missing = reads[reader]["missing"]
    assert set(missing) == {logged[tag].path("v0") for tag in VERSIONS}
    for tag in VERSIONS:
        entity = logged[tag].sdk.user.entity
        assert missing[logged[tag].path("v0")] == {
            "error": f"ValueError: project {PROJECT!r} not found under entity {entity!r}"
        }
