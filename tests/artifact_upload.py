"""The artifact write sequence of wandb-core over raw HTTP, for the server tests.

`log_version(client, user, files)` creates, declares, uploads what the server asks for,
uploads the manifest and commits; it returns the committed artifact and the number of file
PUTs it made.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from conftest import User, load_operation
from databases import read
from server_gql import data, operation

PROJECT = "contents"


def b64md5(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def logical_digest(files: dict[str, bytes]) -> str:
    hasher = hashlib.md5(b"wandb-artifact-manifest-v1\n")
    for path in sorted(files):
        hasher.update(f"{path}:{b64md5(files[path])}\n".encode())
    return hasher.hexdigest()


def headers_of(lines: list[str]) -> dict[str, str]:
    return dict(line.split(":", 1) for line in lines)


def create(
    client: httpx.Client,
    user: User,
    files: dict[str, bytes],
    aliases: list[str] = (),
    run: str | None = None,
) -> Any:
    input = {
        "runName": run,
        "entityName": user.entity,
        "projectName": PROJECT,
        "artifactTypeName": "dataset",
        "artifactCollectionName": "data",
        "digest": logical_digest(files),
        "digestAlgorithm": "MANIFEST_MD5",
        "enableDigestDeduplication": True,
        "aliases": [{"artifactCollectionName": "data", "alias": a} for a in ["latest", *aliases]],
    }
    result = data(client, load_operation("create_artifact"), {"input": input})
    return result["createArtifact"]["artifact"]


def manifest(client: httpx.Client, user: User, artifact_id: str, digest: str) -> Any:
    input = {
        "artifactID": artifact_id,
        "name": "wandb_manifest.json",
        "digest": digest,
        "entityName": user.entity,
        "projectName": PROJECT,
        "runName": "writer",
        "type": "FULL",
    }
    result = data(client, operation("create_artifact_manifest"), {"input": input})
    return result["createArtifactManifest"]["artifactManifest"]


def declare(client: httpx.Client, artifact_id: str, files: dict[str, bytes]) -> list[Any]:
    specs = [{"artifactID": artifact_id, "name": n, "md5": b64md5(c)} for n, c in files.items()]
    result = data(
        client,
        operation("create_artifact_files"),
        {"input": {"storageLayout": "V2", "artifactFiles": specs}},
    )
    return [edge["node"] for edge in result["createArtifactFiles"]["files"]["edges"]]


def commit(client: httpx.Client, artifact_id: str) -> Any:
    variables = {"input": {"artifactID": artifact_id}}
    return data(client, load_operation("commit_artifact"), variables)["commitArtifact"]["artifact"]


def log_version(
    client: httpx.Client,
    user: User,
    files: dict[str, bytes],
    aliases: list[str] = (),
    run: str | None = None,
) -> tuple[Any, int]:
    artifact = create(client, user, files, aliases, run)
    if artifact["state"] == "COMMITTED":
        return artifact, 0
    manifest(client, user, artifact["id"], "")
    nodes = declare(client, artifact["id"], files)
    puts = 0
    contents = {}
    for node in nodes:
        content = files[node["name"]]
        if node["uploadUrl"] is not None:
            response = httpx.put(
                node["uploadUrl"], content=content, headers=headers_of(node["uploadHeaders"])
            )
            assert response.status_code == 200, response.text
            puts += 1
        contents[node["name"]] = {
            "digest": b64md5(content),
            "size": len(content),
            "birthArtifactID": node["artifact"]["id"],
        }
    body = json.dumps(
        {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2"},
            "contents": contents,
        }
    ).encode()
    record = manifest(client, user, artifact["id"], b64md5(body))
    response = httpx.put(
        record["file"]["uploadUrl"],
        content=body,
        headers=headers_of(record["file"]["uploadHeaders"]),
    )
    assert response.status_code == 200, response.text
    return commit(client, artifact["id"]), puts


def stored_uploads(data_dir: Path, entity: str | None = None) -> int:
    """How many times the server received artifact file bytes (of `entity`, or all users)."""
    query = "SELECT COALESCE(SUM(uploads), 0) FROM artifact_blobs"
    conn = read(data_dir)
    if entity is None:
        (count,) = conn.execute(query).one()
    else:
        (count,) = conn.execute(query + " WHERE entity = ?", (entity,)).one()
    return int(count)


def declare_parts(
    client: httpx.Client, artifact_id: str, name: str, content: bytes, parts: list[bytes]
) -> Any:
    """`createArtifactFiles` for one file uploaded in `parts`; the file node."""
    spec = {
        "artifactID": artifact_id,
        "name": name,
        "md5": b64md5(content),
        "uploadPartsInput": [
            {"partNumber": i + 1, "hexMD5": hashlib.md5(p).hexdigest()} for i, p in enumerate(parts)
        ],
    }
    result = data(
        client,
        operation("create_artifact_files"),
        {"input": {"storageLayout": "V2", "artifactFiles": [spec]}},
    )
    return result["createArtifactFiles"]["files"]["edges"][0]["node"]


def complete_variables(artifact_id: str, node: Any, etags: list[str]) -> dict[str, Any]:
    """The variables of `completeMultipartUploadArtifact` (tests/operations/enum_variables)."""
    return {
        "value": "Complete",
        "artifact": artifact_id,
        "storagePath": node["storagePath"],
        "uploadID": node["uploadMultipartUrls"]["uploadID"],
        "parts": [{"partNumber": i + 1, "hexMD5": etag} for i, etag in enumerate(etags)],
    }


def complete_operation() -> str:
    operations = Path(__file__).parent / "operations" / "enum_variables"
    return (operations / "CompleteMultipartAction.graphql").read_text()


def upload_manifest_and_commit(
    client: httpx.Client, user: User, artifact_id: str, files: dict[str, bytes]
) -> Any:
    """PUT a manifest listing `files` (already stored) and commit; the committed artifact."""
    contents = {name: {"digest": b64md5(c), "size": len(c)} for name, c in files.items()}
    body = json.dumps({"version": 1, "contents": contents}).encode()
    record = manifest(client, user, artifact_id, b64md5(body))
    response = httpx.put(record["file"]["uploadUrl"], content=body)
    assert response.status_code == 200, response.text
    return commit(client, artifact_id)
