"""Artifact manifests and specs as pure functions: digests, paths, JSON, add_file/add_dir."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

import runapi
from runapi._manifest import (
    check_artifact_path,
    hash_file,
    logical_digest,
    md5_base64,
    md5_base64_to_hex,
    parse_manifest,
)

EMPTY_MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
HI_MD5 = "SfaKXIST7CwL9ImCHCH8Ow=="


def entry(path: str, digest: str, size: int) -> runapi.ManifestEntry:
    return runapi.ManifestEntry(path=path, digest=digest, size=size)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # hex MD5 of the header line alone
        ([], "64e7c61456b10382e2f3b571ac24b659"),
        ([entry("a.txt", HI_MD5, 2)], "c0fcac8569620d6adcd94818179961f3"),
        # order-independent, non-ASCII and nested paths (value checked against wandb 0.21.4's
        # ArtifactManifestV1.digest on the same entries)
        (
            [
                entry("b/ü.txt", EMPTY_MD5, 0),
                entry("a.txt", HI_MD5, 2),
                entry("a/b.txt", HI_MD5, 2),
            ],
            "d8d64cacb9c90edfeaaa584db7d3d767",
        ),
        (
            [
                entry("a/b.txt", HI_MD5, 2),
                entry("b/ü.txt", EMPTY_MD5, 0),
                entry("a.txt", HI_MD5, 2),
            ],
            "d8d64cacb9c90edfeaaa584db7d3d767",
        ),
    ],
)
def test_logical_digest(entries: list[runapi.ManifestEntry], expected: str) -> None:
    assert logical_digest(entries) == expected
    assert runapi.ArtifactManifest({e.path: e for e in entries}).digest == expected


def test_logical_digest_matches_wandb() -> None:
    manifests = pytest.importorskip("wandb.sdk.artifacts.artifact_manifests.artifact_manifest_v1")
    from wandb.sdk.artifacts.artifact_manifest_entry import ArtifactManifestEntry
    from wandb.sdk.artifacts.storage_policies.wandb_storage_policy import WandbStoragePolicy

    ours = [entry(f"d{i % 3}/f-{i}é.bin", md5_base64(str(i).encode()), i) for i in range(20)]
    theirs = manifests.ArtifactManifestV1(storage_policy=WandbStoragePolicy())
    for e in ours:
        theirs.add_entry(ArtifactManifestEntry(path=e.path, digest=e.digest, size=e.size))
    assert logical_digest(ours) == theirs.digest()


@pytest.mark.parametrize(
    ("data", "b64", "hex_"),
    [
        (b"", EMPTY_MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (b"hi", HI_MD5, "49f68a5c8493ec2c0bf489821c21fc3b"),
    ],
)
def test_md5_forms(data: bytes, b64: str, hex_: str, tmp_path: Path) -> None:
    assert md5_base64(data) == b64
    assert md5_base64_to_hex(b64) == hex_
    local = tmp_path / "f"
    local.write_bytes(data)
    assert hash_file(local) == (b64, len(data))


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"short").decode(), "AAAA"])
def test_md5_base64_to_hex_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="not a base64 MD5 digest"):
        md5_base64_to_hex(bad)


def test_hash_file_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * 4096 + 7)  # > 3 MiB, not a multiple of the chunk
    local = tmp_path / "big"
    local.write_bytes(data)
    digest = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert hash_file(local) == (digest, len(data))


@pytest.mark.parametrize("good", ["a", "a/b.txt", "ü/名前.txt", "a b/c..d", ".hidden/x"])
def test_check_artifact_path_accepts(good: str) -> None:
    assert check_artifact_path(good) == good


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "non-empty"),
        ("/abs", "relative"),
        ("a\\b", "must not contain"),
        ("a\x00b", "must not contain"),
        ("a//b", "segment"),
        ("a/../b", "segment"),
        ("./a", "segment"),
        ("a/", "segment"),
    ],
)
def test_check_artifact_path_refuses(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_artifact_path(bad)


def test_manifest_json_round_trip() -> None:
    manifest = runapi.ArtifactManifest(
        {
            "b/ü.txt": runapi.ManifestEntry("b/ü.txt", EMPTY_MD5, 0, birth_artifact_id="QXJ0"),
            "a.txt": runapi.ManifestEntry("a.txt", HI_MD5, 2, birth_artifact_id="QXJ1"),
        }
    )
    body = manifest.to_json()
    document = json.loads(body)
    assert document == {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": {
            "a.txt": {"digest": HI_MD5, "size": 2, "birthArtifactID": "QXJ1"},
            "b/ü.txt": {"digest": EMPTY_MD5, "size": 0, "birthArtifactID": "QXJ0"},
        },
    }
    assert list(document["contents"]) == ["a.txt", "b/ü.txt"]
    parsed = parse_manifest(body)
    assert parsed == manifest
    assert parsed.size == 2
    assert parsed.entries["a.txt"].md5_hex == "49f68a5c8493ec2c0bf489821c21fc3b"


def test_parse_manifest_wandb_core_extras() -> None:
    body = json.dumps(
        {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2", "storageRegion": "default"},
            "contents": {
                "x": {"digest": HI_MD5, "size": 2, "local_path": "/tmp/x", "skip_cache": False},
                "r": {"digest": "etag", "ref": "s3://b/r", "size": 10, "extra": {"etag": "e"}},
            },
        }
    )
    parsed = parse_manifest(body)
    assert parsed.entries["x"] == runapi.ManifestEntry("x", HI_MD5, 2)
    assert parsed.entries["r"].ref == "s3://b/r"
    assert parsed.entries["r"].extra == {"etag": "e"}
    assert parsed.size == 12
    assert parsed.storage_policy_config["storageRegion"] == "default"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"version": 2, "contents": {}}', "unsupported artifact manifest version"),
        ('{"version": 1, "contents": []}', "contents is not an object"),
        ('{"version": 1, "contents": {"a": 1}}', "not an object"),
        ('{"version": 1, "contents": {"a": {"size": 1}}}', "no digest"),
        ('{"version": 1, "contents": {"a": {"digest": "x", "size": -1}}}', "bad size"),
    ],
)
def test_parse_manifest_refuses(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_manifest(body)


def test_spec_add_file_and_dir(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "empty-dir").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "ü.bin").write_bytes(b"")
    (tmp_path / "one.txt").write_text("1")
    spec = runapi.ArtifactSpec("ds", "dataset")
    assert spec.add_file(tmp_path / "one.txt") == "one.txt"
    assert spec.add_file(tmp_path / "one.txt", name="copies/one.txt") == "copies/one.txt"
    spec.add_dir(tmp_path / "d")
    spec.add_dir(tmp_path / "d", name="prefix/deeper")
    assert spec.files == {
        "one.txt": tmp_path / "one.txt",
        "copies/one.txt": tmp_path / "one.txt",
        "a.txt": tmp_path / "d" / "a.txt",
        "sub/ü.bin": tmp_path / "d" / "sub" / "ü.bin",
        "prefix/deeper/a.txt": tmp_path / "d" / "a.txt",
        "prefix/deeper/sub/ü.bin": tmp_path / "d" / "sub" / "ü.bin",
    }


def test_spec_add_refusals_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "b.txt").write_text("b")
    spec = runapi.ArtifactSpec("ds", "dataset")
    spec.add_file(tmp_path / "d" / "b.txt")
    with pytest.raises(ValueError, match=r"already has a file named 'b\.txt'"):
        spec.add_dir(tmp_path / "d")
    assert spec.files == {"b.txt": tmp_path / "d" / "b.txt"}
    with pytest.raises(ValueError, match=r"already has a file named 'b\.txt'"):
        spec.add_file(tmp_path / "d" / "a.txt", name="b.txt")
    with pytest.raises(ValueError, match="segment"):
        spec.add_file(tmp_path / "d" / "a.txt", name="../escape")
    with pytest.raises(ValueError, match="relative"):
        spec.add_dir(tmp_path / "d", name="/abs")
    with pytest.raises(FileNotFoundError, match="no such file"):
        spec.add_file(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no such file"):
        spec.add_file(tmp_path / "d")
    with pytest.raises(NotADirectoryError, match="no such directory"):
        spec.add_dir(tmp_path / "d" / "a.txt")
    assert spec.files == {"b.txt": tmp_path / "d" / "b.txt"}


def test_spec_add_dir_follows_symlinks_without_looping(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x.txt").write_text("x")
    (tmp_path / "d" / "sub" / "up").symlink_to(tmp_path / "d")  # a loop
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "y.txt").write_text("y")
    (tmp_path / "d" / "linked").symlink_to(tmp_path / "outside")
    spec = runapi.ArtifactSpec("ds", "dataset")
    spec.add_dir(tmp_path / "d")
    assert spec.files == {
        "sub/x.txt": tmp_path / "d" / "sub" / "x.txt",
        "linked/y.txt": tmp_path / "d" / "linked" / "y.txt",
    }
