"""Artifact files and manifests as ``File`` objects, and the fields that list them.

``Artifact.currentManifest``, ``Artifact.files``, ``Artifact.filesByManifestEntries`` and
``ArtifactCollectionMembership.files`` resolve here, plus the ``File`` fields only artifact
files fill (``displayName``, ``digest``, ``storagePath``, ``uploadHeaders``,
``uploadMultipartUrls``, ``artifact``). URLs are signed by :mod:`runapi_server.signing`:
``directUrl`` is fetched without auth; ``url`` is the Basic-auth fallback
``/artifactsV2/default/{entity}/{birth artifact id}/{md5 hex}``. With a bucket, blob and
manifest uploads and stored blobs' ``directUrl`` are the bucket's pre-signed URLs
(:mod:`runapi_server.bucket_artifacts`).
"""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server import bucket_artifacts, signing
from runapi_server.artifact_store import ArtifactFile, md5_hex
from runapi_server.connections import paginate
from runapi_server.context import Context, context_of
from runapi_server.resolvers.query import opaque_id
from runapi_server.runfiles import FileRecord
from runapi_server.storage.artifact_files import files_of, manifest_of
from runapi_server.storage.artifacts import artifact_by_id
from runapi_server.storage.connection import Row

file_type = ObjectType("File")
artifact_type = ObjectType("Artifact")
manifest_type = ObjectType("ArtifactManifest")

UPLOAD_HEADERS = ("Content-Type:application/octet-stream",)


def _blob_upload_headers(md5: str) -> tuple[str, ...]:
    return (*UPLOAD_HEADERS, f"Content-MD5:{md5}")


def _upload_headers(md5: str, parts_to_bucket: bool) -> tuple[str, ...]:
    """The headers of a file's PUTs. Parts sent to a bucket carry no Content-MD5 (the
    whole file's would fail each part: S3 checks it against the part's bytes)."""
    return UPLOAD_HEADERS if parts_to_bucket else _blob_upload_headers(md5)


def manifest_file(ctx: Context, manifest: Row, artifact: Row) -> ArtifactFile:
    """The manifest as a ``File``: a signed GET, and a signed PUT while the version is pending."""
    secret, base = ctx.state.secret, ctx.base_url
    kind = signing.ARTIFACT_MANIFEST
    pending = artifact["state"] == "PENDING"
    digest: str = manifest["digest"]
    bucket = ctx.state.bucket
    upload_url = None
    if pending:
        upload_url = (
            signing.artifact_url(secret, base, "PUT", kind, manifest["id"])
            if bucket is None
            else bucket_artifacts.manifest_upload_url(bucket, manifest["id"])
        )
    return ArtifactFile(
        id=opaque_id("ArtifactManifestFile", manifest["id"]),
        name=manifest["name"],
        size=len(manifest["content"] or b""),
        md5=digest or None,
        digest=digest or None,
        direct_url=signing.artifact_url(secret, base, "GET", kind, manifest["id"]),
        upload_url=upload_url,
        upload_headers=("Content-Type:application/json",) if pending else (),
        artifact=artifact,
        updated_at=manifest["created_at"],
    )


def fallback_url(base: str, entity: str, birth_artifact_db_id: int, md5_b64: str) -> str:
    birth = opaque_id("Artifact", birth_artifact_db_id)
    return f"{base}/artifactsV2/default/{entity}/{birth}/{md5_hex(md5_b64)}"


def entry_file(
    ctx: Context,
    artifact: Row,
    row: Row,
    *,
    upload: bool = False,
    multipart: dict[str, Any] | None = None,
) -> ArtifactFile:
    """One file of a version (a joined ``artifact_files`` / ``artifact_blobs`` row)."""
    secret, base = ctx.state.secret, ctx.base_url
    stored = row["storage"] is not None
    birth = row["birth_artifact_id"] or artifact["id"]
    direct = row["ref"] or ""
    url = None
    bucket = ctx.state.bucket
    if row["blob_id"] is not None:
        direct = (
            bucket_artifacts.download_url(bucket, row["storage"])
            if bucket is not None and stored
            else signing.artifact_url(secret, base, "GET", signing.ARTIFACT_BLOB, row["blob_id"])
        )
        url = fallback_url(base, artifact["entity"], birth, row["digest"])
    wants_bytes = upload and not stored and multipart is None
    upload_url = None
    if wants_bytes:
        upload_url = (
            signing.artifact_url(secret, base, "PUT", signing.ARTIFACT_BLOB, row["blob_id"])
            if bucket is None
            else bucket_artifacts.blob_upload_url(bucket, row["blob_id"], row["digest"])
        )
    return ArtifactFile(
        id=opaque_id("ArtifactFile", artifact["id"], row["name"]),
        name=row["name"],
        size=row["size"] if row["size"] is not None else (row["blob_size"] or 0),
        md5=row["digest"],
        digest=row["digest"],
        direct_url=direct,
        url=url,
        upload_url=upload_url,
        upload_headers=_upload_headers(row["digest"], bucket is not None and multipart is not None)
        if upload and not stored
        else (),
        storage_path=(
            f"artifacts/{row['blob_id']}-{md5_hex(row['digest'])}"
            if row["blob_id"] is not None
            else None
        ),
        multipart=multipart,
        artifact=birth,
        updated_at=artifact["updated_at"],
    )


def files_connection(
    info: GraphQLResolveInfo,
    artifact: Row,
    names: list[str] | None,
    after: str | None,
    first: int | None,
) -> dict[str, Any]:
    """A committed version's files by manifest path (only ``names`` when given)."""
    ctx = context_of(info)
    ctx.state.limits.check_page_size(first, None)
    if artifact["state"] != "COMMITTED":
        rows: list[Row] = []
    else:
        rows = files_of(ctx.state.db.read(), artifact["id"])
    if names:
        wanted = set(names)
        rows = [row for row in rows if row["name"] in wanted]
    page = paginate(rows, "artifactFiles", first=first, after=after)
    return {
        "edges": [{"node": entry_file(ctx, artifact, r), "cursor": c} for r, c in page.edges],
        "pageInfo": page.page_info,
        "totalCount": page.total,
        "uploadHeaders": [],
    }


@artifact_type.field("files")
def resolve_artifact_files(
    obj: Row,
    info: GraphQLResolveInfo,
    names: list[str] | None = None,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    return files_connection(info, obj, names, after, first)


@artifact_type.field("filesByManifestEntries")
def resolve_files_by_entries(
    obj: Row,
    info: GraphQLResolveInfo,
    storageLayout: str,
    manifestVersion: str,
    entries: list[dict[str, Any]] | None = None,
    storageRegion: str | None = None,
) -> dict[str, Any]:
    names = [entry["name"] for entry in entries or []]
    if not names:
        return files_connection(info, obj, None, None, None)
    result = files_connection(info, obj, names, None, None)
    order = {name: index for index, name in enumerate(names)}
    result["edges"].sort(key=lambda edge: order[edge["node"].name])
    return result


@artifact_type.field("currentManifest")
def resolve_current_manifest(obj: Row, info: GraphQLResolveInfo) -> Any:
    row = manifest_of(context_of(info).state.db.read(), obj["id"])
    if row is None or (obj["state"] == "COMMITTED" and row["content"] is None):
        return None
    return row


@manifest_type.field("id")
def resolve_manifest_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("ArtifactManifest", obj["id"])


@manifest_type.field("file")
def resolve_manifest_file(obj: Row, info: GraphQLResolveInfo) -> ArtifactFile:
    ctx = context_of(info)
    artifact = artifact_by_id(ctx.state.db.read(), obj["artifact_id"])
    assert artifact is not None  # the manifest row is deleted with its artifact
    return manifest_file(ctx, obj, artifact)


@manifest_type.field("type")
def resolve_manifest_type(obj: Row, _info: GraphQLResolveInfo) -> str:
    kind: str = obj["type"]
    return kind


@manifest_type.field("digest")
def resolve_manifest_digest(obj: Row, _info: GraphQLResolveInfo) -> str:
    digest: str = obj["digest"]
    return digest


@manifest_type.field("createdAt")
def resolve_manifest_created(obj: Row, _info: GraphQLResolveInfo) -> str:
    created: str = obj["created_at"]
    return created


@manifest_type.field("artifact")
def resolve_manifest_artifact(obj: Row, info: GraphQLResolveInfo) -> Any:
    return artifact_by_id(context_of(info).state.db.read(), obj["artifact_id"])


# --------------------------------------------------------------------------- File fields


@file_type.field("displayName")
def resolve_display_name(record: FileRecord | ArtifactFile, _info: GraphQLResolveInfo) -> str:
    return record.name


@file_type.field("digest")
def resolve_digest(record: FileRecord | ArtifactFile, _info: GraphQLResolveInfo) -> str | None:
    return record.digest if isinstance(record, ArtifactFile) else None


@file_type.field("storagePath")
def resolve_storage_path(
    record: FileRecord | ArtifactFile, _info: GraphQLResolveInfo
) -> str | None:
    return record.storage_path if isinstance(record, ArtifactFile) else None


@file_type.field("uploadHeaders")
def resolve_upload_headers(
    record: FileRecord | ArtifactFile, _info: GraphQLResolveInfo
) -> list[str]:
    if isinstance(record, ArtifactFile):
        return list(record.upload_headers)
    return ["Content-Type:application/octet-stream"]


@file_type.field("uploadMultipartUrls")
def resolve_multipart(
    record: FileRecord | ArtifactFile, _info: GraphQLResolveInfo
) -> dict[str, Any] | None:
    return record.multipart if isinstance(record, ArtifactFile) else None


@file_type.field("artifact")
def resolve_file_artifact(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> Any:
    if not isinstance(record, ArtifactFile) or record.artifact is None:
        return None
    if isinstance(record.artifact, int):
        found = artifact_by_id(context_of(info).state.db.read(), record.artifact)
        return found
    return record.artifact


BINDABLES: list[SchemaBindable] = [file_type, artifact_type, manifest_type]
