"""Artifacts with files through runapi, over real HTTP against the local server:
log_artifact's upload sequence, files/manifest/digest, verified and resumable downloads."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi
from runapi._manifest import hash_file, logical_digest

__all__ = ["close_apis"]

TREE: dict[str, bytes] = {
    "top.txt": b"top level\n",
    "nested/deeper/data.bin": bytes(range(256)) * 300,
    "nested/empty.txt": b"",
    "ünïcödé/名前.txt": "non-ASCII ✓".encode(),
    "a b/space name.csv": b"a,b\n1,2\n",
}


class CountingTransport(httpx.BaseTransport):
    """The real transport, counting requests by method and path prefix; optionally
    answering the first `fail_puts` artifact-file PUTs with 503 (never sent on)."""

    def __init__(self, fail_puts: int = 0) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.fail_puts = fail_puts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        kind = "graphql" if request.url.path.endswith("/graphql") else "other"
        with self._lock:
            self.counts[f"{request.method} {kind}"] += 1
            fail = request.method == "PUT" and self.fail_puts > 0
            if fail:
                self.fail_puts -= 1
        if fail:
            return httpx.Response(503, request=request, text="injected")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def write_tree(root: Path, tree: dict[str, bytes]) -> Path:
    for name, data in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def spec_of(directory: Path, name: str = "dataset") -> runapi.ArtifactSpec:
    spec = runapi.ArtifactSpec(name=name, type="dataset", metadata={"source": "test"})
    spec.add_dir(directory)
    return spec


def test_round_trip(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="contents")
    source = write_tree(tmp_path / "src", TREE)
    logged = run.log_artifact(spec_of(source), aliases=["best"])

    assert logged.state == "COMMITTED"
    assert logged.name == "dataset:v0"
    assert set(logged.aliases) == {"latest", "best"}
    entries = [runapi.ManifestEntry(name, *hash_file(source / name)) for name in sorted(TREE)]
    assert logged.digest == logical_digest(entries)
    assert logged.size == sum(len(b) for b in TREE.values())
    assert logged.file_count == len(TREE)

    found = api.artifact(f"{user.entity}/contents/dataset:best")
    assert found.id == logged.id
    assert found.digest == logged.digest
    manifest = found.manifest
    assert sorted(manifest.entries) == sorted(TREE)
    assert manifest.digest == logged.digest
    assert manifest.size == logged.size
    for entry in entries:
        assert manifest.entries[entry.path].digest == entry.digest
        assert manifest.entries[entry.path].size == entry.size
        assert manifest.entries[entry.path].birth_artifact_id == logged.id

    files = found.files(per_page=2)
    assert len(files) == len(TREE)
    listed = {f.name: (f.size, f.digest) for f in files}
    assert listed == {e.path: (e.size, e.digest) for e in entries}
    one = found.file("ünïcödé/名前.txt")
    assert one.size == len(TREE["ünïcödé/名前.txt"])
    assert one.download(root=tmp_path / "single").read_bytes() == TREE["ünïcödé/名前.txt"]
    with pytest.raises(runapi.ArtifactFileNotFoundError, match="no-such-file"):
        found.file("no-such-file")

    root = found.download(root=tmp_path / "out", progress=False)
    assert root == tmp_path / "out"
    assert read_tree(root) == TREE
    assert not list(root.rglob(".runapi-*"))


def test_default_root_and_empty_artifact(
    user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(user)
    run = new_run(api, user, project="contents")
    monkeypatch.chdir(tmp_path)
    spec = runapi.ArtifactSpec("meta", "config", metadata={"k": 1})
    logged = run.log_artifact(spec)
    assert logged.state == "COMMITTED"
    assert logged.file_count == 0
    assert logged.manifest.entries == {}
    assert list(logged.files()) == []
    assert logged.download() == Path("artifacts") / "meta:v0"
    assert (tmp_path / "artifacts" / "meta:v0").is_dir()


def test_second_version_uploads_only_the_changed_file(user: User, tmp_path: Path) -> None:
    transport = CountingTransport()
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="dedup")
    source = write_tree(tmp_path / "src", TREE)
    first = run.log_artifact(spec_of(source))
    # one PUT per file (the empty one included) plus the manifest
    assert transport.counts["PUT other"] == len(TREE) + 1

    again = run.log_artifact(spec_of(source))
    assert again.id == first.id and again.version == "v0"
    assert transport.counts["PUT other"] == len(TREE) + 1

    (source / "nested" / "deeper" / "data.bin").write_bytes(b"changed")
    transport.counts.clear()
    second = run.log_artifact(spec_of(source))
    assert second.version == "v1"
    assert second.digest != first.digest
    assert transport.counts["PUT other"] == 2  # the changed file and the manifest
    manifest = second.manifest
    assert manifest.entries["top.txt"].birth_artifact_id == first.id
    assert manifest.entries["nested/deeper/data.bin"].birth_artifact_id == second.id
    assert "latest" in second.aliases
    assert "latest" not in api.artifact(f"{user.entity}/dedup/dataset:v0").aliases
    expected = {**TREE, "nested/deeper/data.bin": b"changed"}
    assert read_tree(second.download(root=tmp_path / "v1")) == expected
    assert read_tree(first.download(root=tmp_path / "v0")) == TREE


def test_upload_retried_through_the_transport(user: User, tmp_path: Path) -> None:
    transport = CountingTransport(fail_puts=2)
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="retry")
    source = write_tree(tmp_path / "src", TREE)
    logged = run.log_artifact(spec_of(source), max_workers=1)
    assert transport.fail_puts == 0
    assert transport.counts["PUT other"] == len(TREE) + 1 + 2
    assert read_tree(logged.download(root=tmp_path / "out")) == TREE


def test_download_resumes(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="resume")
    logged = run.log_artifact(spec_of(write_tree(tmp_path / "src", TREE)))
    root = logged.download(root=tmp_path / "out")
    kept = root / "top.txt"
    kept_stat = kept.stat().st_mtime_ns
    (root / "nested" / "deeper" / "data.bin").unlink()
    (root / "ünïcödé" / "名前.txt").write_bytes(b"stale")  # wrong bytes get replaced

    transport = CountingTransport()
    again = make_api(user, transport=transport).artifact(logged.qualified_name)
    assert again.download(root=root) == root
    assert read_tree(root) == TREE
    assert kept.stat().st_mtime_ns == kept_stat
    # the manifest and the two missing or wrong files; nothing else fetched again
    assert transport.counts["GET other"] == 3


def test_download_refuses_bad_arguments(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="args")
    logged = run.log_artifact(spec_of(write_tree(tmp_path / "src", {"a": b"a"})))
    with pytest.raises(ValueError, match="max_workers"):
        logged.download(root=tmp_path / "out", max_workers=0)
    assert not (tmp_path / "out").exists()


def test_log_artifact_refuses_bad_input(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="bad")
    source = write_tree(tmp_path / "src", {"a": b"a"})
    spec = spec_of(source)
    spec.digest = "explicit"
    with pytest.raises(ValueError, match="digest"):
        run.log_artifact(spec)
    gone = spec_of(source, name="gone")
    (source / "a").unlink()
    with pytest.raises(FileNotFoundError, match="is gone"):
        run.log_artifact(gone)
    with pytest.raises(ValueError, match="part_size"):
        run.log_artifact(runapi.ArtifactSpec("x", "t"), part_size=0)
    assert len(run.logged_artifacts()) == 0


def test_multipart_upload(user: User, tmp_path: Path) -> None:
    transport = CountingTransport()
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="multipart")
    part = 5 << 20  # the server's smallest part (S3's too)
    big = os.urandom(2 * part + 5)  # two whole parts and a short one
    tree = {"big.bin": big, "small.txt": b"small"}
    source = write_tree(tmp_path / "src", tree)
    logged = run.log_artifact(spec_of(source), multipart_threshold=part + 1, part_size=part)
    assert transport.counts["PUT other"] == 3 + 1 + 1  # parts, small.txt, the manifest
    assert logged.size == len(big) + 5
    assert logged.manifest.entries["big.bin"].digest == hash_file(source / "big.bin")[0]
    assert read_tree(logged.download(root=tmp_path / "out")) == tree


def test_corrupted_stored_file_is_detected(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="corrupt")
    data = os.urandom(300_000)
    tree = {**TREE, "nested/deeper/data.bin": data}
    logged = run.log_artifact(spec_of(write_tree(tmp_path / "src", tree)))
    md5_hex = logged.manifest.entries["nested/deeper/data.bin"].md5_hex
    (blob,) = (user.server.data_dir / "files" / "artifacts").glob(f"*-{md5_hex}")
    stored = bytearray(blob.read_bytes())
    stored[1000] ^= 0xFF  # same size, other bytes
    blob.write_bytes(bytes(stored))

    out = tmp_path / "out"
    (out / "nested" / "deeper").mkdir(parents=True)
    (out / "nested" / "deeper" / "data.bin").write_bytes(b"an old local copy")
    with pytest.raises(runapi.ArtifactChecksumError) as raised:
        logged.download(root=out, max_workers=1)
    error = raised.value
    assert isinstance(error, runapi.RunapiError)
    assert error.name == "nested/deeper/data.bin"
    assert error.expected_digest == logged.manifest.entries[error.name].digest
    assert error.actual_digest != error.expected_digest
    assert error.expected_size == error.actual_size == len(data)
    # the local file is as it was, and no temporary file is left anywhere
    assert (out / "nested" / "deeper" / "data.bin").read_bytes() == b"an old local copy"
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".runapi-")]
    assert leftovers == []
    with pytest.raises(runapi.ArtifactChecksumError):
        logged.file("nested/deeper/data.bin").download(root=tmp_path / "single")
    assert not (tmp_path / "single" / "nested" / "deeper" / "data.bin").exists()
    assert not [p for p in (tmp_path / "single").rglob("*") if p.is_file()]


def test_corrupted_file_among_many_concurrent_downloads(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="corrupt-many")
    tree = {f"d{i % 4}/f{i:03d}.bin": os.urandom(2000 + i) for i in range(60)}
    logged = run.log_artifact(spec_of(write_tree(tmp_path / "src", tree)))
    bad = "d2/f030.bin"
    md5_hex = logged.manifest.entries[bad].md5_hex
    (blob,) = (user.server.data_dir / "files" / "artifacts").glob(f"*-{md5_hex}")
    blob.write_bytes(b"\0" * len(tree[bad]))

    out = tmp_path / "out"
    with pytest.raises(runapi.ArtifactChecksumError) as raised:
        logged.download(root=out, max_workers=8)
    assert raised.value.name == bad
    assert not (out / bad).exists()
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert all(not name.split("/")[-1].startswith(".runapi-") for name in written)
    assert all(tree[name] == data for name, data in written.items())  # whole and verified


def test_same_bytes_under_two_paths(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="twins")
    same = os.urandom(50_000)
    tree = {"a/copy.bin": same, "b/copy.bin": same, "c/empty": b"", "d/empty": b""}
    logged = run.log_artifact(spec_of(write_tree(tmp_path / "src", tree)))
    assert logged.file_count == 4
    assert logged.size == 2 * len(same)
    assert read_tree(logged.download(root=tmp_path / "out")) == tree
