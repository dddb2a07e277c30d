"""Artifact contents on disk: blob paths, manifests, digests, freeing files (the rows are
in :mod:`runapi_server.storage.artifact_blobs` and :mod:`runapi_server.storage.artifact_files`).

Blobs are content-addressed per entity by MD5 (``artifact_blobs``): bytes a version
shares with an earlier one are stored and uploaded once. A blob's bytes are the
object ``files/artifacts/<blob id>-<md5 hex>``; the row is made when a client declares
the file (``createArtifactFiles``) and gets its ``storage`` once verified bytes arrived. A
blob is freed when no version's file (``artifact_files``) refers to it.

```python
digest = logical_digest({"a.txt": "1B2M2Y8AsgTpgAmY7PhCfg=="})  # hex MD5, as W&B computes it
entries = parse_manifest(manifest_bytes)  # list[Entry], BadInput when malformed
```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from runapi_server.errors import BadInput
from runapi_server.objects import ObjectStore, discard, key_of
from runapi_server.objects.s3 import S3Store
from runapi_server.runfiles import check_file_name

ARTIFACTS_DIR = "artifacts"
PARTS_DIR = ".parts"
MANIFEST_V1_PREFIX = "wandb-artifact-manifest-v1\n"


def md5_hex(b64: str) -> str | None:
    """The hex form of a base64 MD5, or None when it is not one."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None


def md5_b64_of_hex(hex_digest: str) -> str | None:
    """The base64 form of a hex MD5, or None when it is not one."""
    try:
        raw = bytes.fromhex(hex_digest)
    except ValueError:
        return None
    return base64.b64encode(raw).decode() if len(raw) == 16 else None


def check_md5(b64: str, what: str) -> str:
    """``b64`` when it is a base64 MD5; :class:`BadInput` naming ``what`` otherwise."""
    if md5_hex(b64) is None:
        raise BadInput(f"{what} {b64!r} is not a base64 MD5 (24 characters, 16 bytes)")
    return b64


def blob_key(blob_id: int, md5_b64: str) -> str:
    """The object key of a blob's bytes: ``files/artifacts/<blob id>-<md5 hex>``."""
    return key_of(ARTIFACTS_DIR, f"{blob_id}-{md5_hex(md5_b64)}")


def parts_prefix(blob_id: int) -> str:
    """The key folder of a multipart upload's parts (received by the server)."""
    return key_of(ARTIFACTS_DIR, PARTS_DIR, blob_id) + "/"


def part_key(blob_id: int, part: int) -> str:
    return parts_prefix(blob_id) + str(part)


def logical_digest(digests: dict[str, str]) -> str:
    """W&B's artifact digest: hex MD5 over the manifest prefix and sorted ``path:digest``."""
    hasher = hashlib.md5(MANIFEST_V1_PREFIX.encode())
    for path in sorted(digests):
        hasher.update(f"{path}:{digests[path]}\n".encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One manifest entry."""

    path: str
    digest: str
    size: int
    birth_artifact_id: str | None
    ref: str | None
    extra: dict[str, Any] | None


def parse_manifest(content: bytes) -> list[Entry]:
    """The entries of a version-1 manifest; :class:`BadInput` saying what is wrong."""
    try:
        manifest = json.loads(content)
    except (ValueError, RecursionError):
        raise BadInput("the uploaded manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("version") != 1:
        raise BadInput('the manifest must be a JSON object with "version": 1')
    contents = manifest.get("contents")
    if not isinstance(contents, dict):
        raise BadInput('the manifest has no "contents" object')
    entries: list[Entry] = []
    for path, entry in contents.items():
        problem = check_file_name(path)
        if problem:
            raise BadInput(f"manifest path {path!r}: {problem}")
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            raise BadInput(f'manifest entry {path!r} has no "digest" string')
        ref = entry.get("ref")
        if ref is not None and not isinstance(ref, str):
            raise BadInput(f'manifest entry {path!r}: "ref" must be a string')
        size = entry.get("size")
        if ref is not None and size is None:
            size = 0
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadInput(f'manifest entry {path!r}: "size" must be a non-negative integer')
        if ref is None:
            check_md5(entry["digest"], f"manifest entry {path!r} digest")
        birth = entry.get("birthArtifactID")
        extra = entry.get("extra")
        entries.append(
            Entry(
                path=path,
                digest=entry["digest"],
                size=size,
                birth_artifact_id=birth if isinstance(birth, str) else None,
                ref=ref,
                extra=extra if isinstance(extra, dict) else None,
            )
        )
    return entries


def remove_blob_files(store: ObjectStore, freed: list[str]) -> None:
    """Delete freed blobs (from
    :func:`runapi_server.storage.artifact_blobs.free_unreferenced_blobs`) and their partial
    parts (in a bucket: abort their open multipart uploads)."""
    for item in freed:
        blob_id, _, storage = item.partition(":")
        if storage:
            discard(store, storage)
        remove_parts(store, int(blob_id))
        if not storage and isinstance(store, S3Store):
            store.abort_uploads(key_of(ARTIFACTS_DIR, f"{blob_id}-"))


def remove_parts(store: ObjectStore, blob_id: int) -> None:
    store.delete_prefix(parts_prefix(blob_id))


@dataclass(frozen=True)
class ArtifactFile:
    """An artifact file or manifest as the ``File`` resolvers see it; URLs already signed."""

    id: str
    name: str
    size: int
    md5: str | None
    digest: str | None
    direct_url: str
    url: str | None = None
    upload_url: str | None = None
    upload_headers: tuple[str, ...] = ()
    storage_path: str | None = None
    multipart: dict[str, Any] | None = None
    artifact: Any = None
    updated_at: str | None = None


def parse_opaque(value: str, kind: str) -> int | None:
    """The database id in an opaque id ``base64("<kind>:<n>")``, else None."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = decoded.partition(":")
    return int(number) if prefix == kind and number.isdigit() else None
