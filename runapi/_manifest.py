"""Artifact manifests (v1) as W&B writes them: entries, the JSON file, the logical digest.

Pure functions and frozen dataclasses; no I/O except hashing a local file.

```python
>>> entry = ManifestEntry(path="a.txt", digest=md5_base64(b"hi"), size=2)
>>> logical_digest([entry])
'c0fcac8569620d6adcd94818179961f3'
```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST_NAME = "wandb_manifest.json"
"""The manifest's file name (`createArtifactManifest(name: ...)`, type FULL)."""
STORAGE_POLICY = "wandb-storage-policy-v1"
STORAGE_LAYOUT = "V2"
DIGEST_PREFIX = "wandb-artifact-manifest-v1\n"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestEntry:
    """One entry of an artifact manifest: a path inside the artifact and its content.

    - `path`: the name inside the artifact, `/`-separated (`data/train.csv`).
    - `digest`: base64 MD5 of the bytes (for a reference: whatever the reference uses).
    - `size`: bytes.
    - `birth_artifact_id`: the artifact version that first stored these bytes.
    - `ref`: a reference URI (no bytes stored by W&B), else None.
    - `extra`: free-form extra fields of the entry.
    """

    path: str
    digest: str
    size: int
    birth_artifact_id: str | None = None
    ref: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def md5_hex(self) -> str:
        """The digest as hex (what download URLs and `File.md5` comparisons use)."""
        return md5_base64_to_hex(self.digest)


@dataclass(frozen=True)
class ArtifactManifest:
    """A parsed manifest (`Artifact.manifest`): version, storage policy and entries by path.

    ```python
    manifest = artifact.manifest
    manifest.entries["data/train.csv"].size
    manifest.digest  # the logical digest, equal to Artifact.digest
    ```
    """

    entries: Mapping[str, ManifestEntry]
    version: int = 1
    storage_policy: str = STORAGE_POLICY
    storage_policy_config: Mapping[str, Any] = field(
        default_factory=lambda: {"storageLayout": STORAGE_LAYOUT}
    )

    @property
    def digest(self) -> str:
        """The logical digest of the entries (`logical_digest`)."""
        return logical_digest(self.entries.values())

    @property
    def size(self) -> int:
        """Sum of entry sizes, references included (W&B's `Artifact.size`)."""
        return sum(e.size for e in self.entries.values())

    def to_json(self) -> bytes:
        """The manifest file's bytes (contents sorted by path, compact UTF-8 JSON)."""
        contents: dict[str, dict[str, Any]] = {}
        for path in sorted(self.entries):
            entry = self.entries[path]
            item: dict[str, Any] = {"digest": entry.digest, "size": entry.size}
            if entry.birth_artifact_id is not None:
                item["birthArtifactID"] = entry.birth_artifact_id
            if entry.ref is not None:
                item["ref"] = entry.ref
            if entry.extra:
                item["extra"] = dict(entry.extra)
            contents[path] = item
        document = {
            "version": self.version,
            "storagePolicy": self.storage_policy,
            "storagePolicyConfig": dict(self.storage_policy_config),
            "contents": contents,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def md5_base64(data: bytes) -> str:
    """Base64 MD5 of `data`, W&B's digest of stored bytes.

    ```python
    >>> md5_base64(b"")
    '1B2M2Y8AsgTpgAmY7PhCfg=='
    ```
    """
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def md5_base64_to_hex(digest: str) -> str:
    """`1B2M2Y8AsgTpgAmY7PhCfg==` -> `d41d8cd98f00b204e9800998ecf8427e`.

    Raises `ValueError` for anything that is not the base64 of 16 bytes.

    ```python
    >>> md5_base64_to_hex("1B2M2Y8AsgTpgAmY7PhCfg==")
    'd41d8cd98f00b204e9800998ecf8427e'
    ```
    """
    try:
        raw = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"not a base64 MD5 digest: {digest!r}") from None
    if len(raw) != 16:
        raise ValueError(f"not a base64 MD5 digest: {digest!r}")
    return raw.hex()


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """`(base64 MD5, size)` of a local file, read in 1 MiB chunks."""
    hasher = hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return base64.b64encode(hasher.digest()).decode("ascii"), size


def logical_digest(entries: Iterable[ManifestEntry]) -> str:
    """W&B's logical digest of a manifest: hex MD5 of `wandb-artifact-manifest-v1\\n` then
    `<path>:<digest>\\n` for each entry, sorted by path. `Artifact.digest` equals it.

    ```python
    >>> logical_digest([])
    '64e7c61456b10382e2f3b571ac24b659'
    ```
    """
    hasher = hashlib.md5(DIGEST_PREFIX.encode("utf-8"))
    for entry in sorted(entries, key=lambda e: e.path):
        hasher.update(f"{entry.path}:{entry.digest}\n".encode())
    return hasher.hexdigest()


def check_artifact_path(name: str) -> str:
    """`name` if it is a usable path inside an artifact, else `ValueError` saying why.

    Refused, as the server refuses them: empty names, a leading `/`, backslashes, NUL,
    empty or `.`/`..` segments.

    ```python
    >>> check_artifact_path("data/train.csv")
    'data/train.csv'
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"artifact file name must be a non-empty str, not {name!r}")
    if "\\" in name or "\x00" in name:
        raise ValueError(f"artifact file name must not contain '\\' or NUL: {name!r}")
    if name.startswith("/"):
        raise ValueError(f"artifact file name must be relative: {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"artifact file name has an empty, '.' or '..' segment: {name!r}")
    return name


def _entry(path: str, raw: Any) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise ValueError(f"manifest entry {path!r} is not an object")
    digest, size = raw.get("digest"), raw.get("size", 0)
    if not isinstance(digest, str):
        raise ValueError(f"manifest entry {path!r} has no digest")
    if size is None:
        size = 0
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"manifest entry {path!r} has a bad size: {size!r}")
    birth = raw.get("birthArtifactID")
    ref = raw.get("ref")
    extra = raw.get("extra") or {}
    return ManifestEntry(
        path=path,
        digest=digest,
        size=size,
        birth_artifact_id=birth if isinstance(birth, str) else None,
        ref=ref if isinstance(ref, str) else None,
        extra=extra if isinstance(extra, dict) else {},
    )


def parse_manifest(data: bytes | str) -> ArtifactManifest:
    """An `ArtifactManifest` from the manifest file's bytes (`ValueError` when malformed).

    Unknown keys (wandb-core's `local_path`, `skip_cache`, ...) are ignored.
    """
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"the artifact manifest is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("the artifact manifest is not a JSON object")
    version = document.get("version")
    if version != 1:
        raise ValueError(f"unsupported artifact manifest version {version!r} (runapi reads 1)")
    contents = document.get("contents")
    if contents is None:
        contents = {}
    if not isinstance(contents, dict):
        raise ValueError("the artifact manifest's contents is not an object")
    config = document.get("storagePolicyConfig") or {}
    return ArtifactManifest(
        entries={str(path): _entry(str(path), raw) for path, raw in contents.items()},
        version=1,
        storage_policy=str(document.get("storagePolicy") or STORAGE_POLICY),
        storage_policy_config=config if isinstance(config, dict) else {},
    )
