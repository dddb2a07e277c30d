"""The write sequence of an artifact version after ``createArtifact``.

``createArtifactManifest`` / ``updateArtifactManifest`` (the manifest record, upserted),
``createArtifactFiles`` (declares files; an upload URL only for bytes not stored yet),
``completeMultipartUploadArtifact`` and ``commitArtifact`` (checks the uploaded manifest
against the stored blobs, records the entries, applies the aliases). Each is one
transaction; only the caller's own PENDING versions can be written. ``updateArtifact``
edits a version's description, metadata, TTL, tags and aliases (contents never change).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ariadne import MutationType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server import artifact_store, bucket_artifacts, signing
from runapi_server.artifact_store import check_md5, logical_digest, parse_manifest
from runapi_server.auth import AuthUser
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.resolvers.artifact_files import entry_file
from runapi_server.resolvers.artifact_versions import alias_names
from runapi_server.resolvers.artifacts import LATEST, parse_artifact_id
from runapi_server.runfiles import check_file_name
from runapi_server.storage import artifact_blobs, artifact_files
from runapi_server.storage import artifacts as store
from runapi_server.storage.artifact_files import manifest_of
from runapi_server.storage.artifacts import artifact_by_id, set_alias
from runapi_server.storage.connection import Connection, Row
from runapi_server.timeutil import now_iso

mutation = MutationType()


def owned_artifact(conn: Connection, user: AuthUser, value: str | None) -> Row:
    """The caller's artifact with GraphQL id ``value``; another's reads as not found."""
    db_id = parse_artifact_id(value) if value else None
    row = artifact_by_id(conn, db_id) if db_id is not None else None
    if row is None or row["entity"] != user.entity:
        raise BadInput(f"artifact {value!r} not found")
    return row


def pending_artifact(conn: Connection, user: AuthUser, value: str) -> Row:
    row = owned_artifact(conn, user, value)
    if row["state"] != "PENDING":
        raise BadInput(f"artifact {value!r} is already committed: its contents cannot change")
    return row


# --------------------------------------------------------------------------- manifests


def _upsert_manifest(
    conn: Connection,
    artifact: Row,
    *,
    name: str | None,
    digest: str | None,
    kind: str | None,
    base: str | None,
    user: AuthUser,
) -> Row:
    if name is not None and check_file_name(name):
        raise BadInput(f"invalid manifest name {name!r}")
    if digest:
        check_md5(digest, "manifest digest")
    base_id = None
    if base:
        base_id = owned_artifact(conn, user, base)["id"]
    existing = manifest_of(conn, artifact["id"])
    if existing is None:
        artifact_files.create_manifest(
            conn,
            artifact["id"],
            name=name or "wandb_manifest.json",
            kind=kind or "FULL",
            digest=digest or "",
            base_artifact_id=base_id,
            now=now_iso(),
        )
    else:
        new_digest = existing["digest"] if digest is None else digest
        keep = existing["content"] is not None and new_digest == existing["digest"]
        artifact_files.update_manifest(
            conn,
            existing["id"],
            name=name or existing["name"],
            kind=kind or existing["type"],
            digest=new_digest,
            base_artifact_id=base_id if base else existing["base_artifact_id"],
            content=existing["content"] if keep else None,
        )
    row = manifest_of(conn, artifact["id"])
    if row is None:  # just written in this transaction
        raise LookupError(f"the manifest record of artifact {artifact['id']} vanished")
    return row


@mutation.field("createArtifactManifest")
def resolve_create_manifest(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    with ctx.state.db.transaction() as conn:
        artifact = pending_artifact(conn, ctx.user, input["artifactID"])
        if (input["entityName"], input["projectName"]) != (
            artifact["entity"],
            artifact["project_name"],
        ):
            raise BadInput(
                f"artifact {input['artifactID']!r} is not in"
                f" {input['entityName']}/{input['projectName']}"
            )
        row = _upsert_manifest(
            conn,
            artifact,
            name=input["name"],
            digest=input["digest"],
            kind=input.get("type"),
            base=input.get("baseArtifactID"),
            user=ctx.user,
        )
    return {"artifactManifest": row}


@mutation.field("updateArtifactManifest")
def resolve_update_manifest(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    manifest_db_id = artifact_store.parse_opaque(input["artifactManifestID"], "ArtifactManifest")
    with ctx.state.db.transaction() as conn:
        found = (
            artifact_files.manifest_artifact_id(conn, manifest_db_id)
            if manifest_db_id is not None
            else None
        )
        artifact = artifact_by_id(conn, found) if found is not None else None
        if artifact is None or artifact["entity"] != ctx.user.entity:
            raise BadInput(f"artifact manifest {input['artifactManifestID']!r} not found")
        if artifact["state"] != "PENDING":
            raise BadInput("the artifact of this manifest is already committed")
        row = _upsert_manifest(
            conn,
            artifact,
            name=None,
            digest=input.get("digest"),
            kind=None,
            base=input.get("baseArtifactID"),
            user=ctx.user,
        )
    return {"artifactManifest": row}


# --------------------------------------------------------------------------- files


def _declared_parts(parts: list[dict[str, Any]], max_parts: int) -> list[list[Any]]:
    if len(parts) > max_parts:
        raise BadInput(f"{len(parts)} upload parts, over the limit of {max_parts}")
    numbers = [int(part["partNumber"]) for part in parts]
    if numbers != list(range(1, len(parts) + 1)):
        raise BadInput("uploadPartsInput must number its parts 1, 2, ... in order")
    declared = []
    for part in parts:
        hex_md5 = part["hexMD5"].strip('"').lower()
        if artifact_store.md5_b64_of_hex(hex_md5) is None:
            raise BadInput(f"part {part['partNumber']}: hexMD5 {part['hexMD5']!r} is not a hex MD5")
        declared.append([int(part["partNumber"]), hex_md5])
    return declared


@mutation.field("createArtifactFiles")
def resolve_create_artifact_files(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    specs: list[dict[str, Any]] = input["artifactFiles"]
    ctx.state.limits.check_page_size(len(specs), None)
    now = now_iso()
    nodes = []
    with ctx.state.db.transaction() as conn:
        artifacts: dict[str, Row] = {}
        for spec in specs:
            if spec["artifactID"] not in artifacts:
                artifacts[spec["artifactID"]] = pending_artifact(conn, ctx.user, spec["artifactID"])
            artifact = artifacts[spec["artifactID"]]
            name, md5 = spec["name"], spec["md5"]
            problem = check_file_name(name)
            if problem:
                raise BadInput(f"createArtifactFiles: {problem}")
            check_md5(md5, f"md5 of {name!r}")
            entity = artifact["entity"]
            blob = artifact_blobs.blob_for(conn, entity, md5)
            if blob is None:
                blob = artifact_blobs.create_blob(conn, entity, md5, artifact["id"], now)
            multipart = None
            if spec.get("uploadPartsInput") and blob["storage"] is None:
                declared = _declared_parts(spec["uploadPartsInput"], ctx.state.limits.max_parts)
                bucket = ctx.state.bucket
                if bucket is not None:
                    multipart = bucket_artifacts.open_multipart(
                        bucket, blob, [number for number, _ in declared]
                    )
                    upload_id = str(multipart["uploadID"])
                else:
                    upload_id = blob["upload_id"] or secrets.token_hex(16)
                    multipart = {
                        "uploadID": upload_id,
                        "uploadUrlParts": [
                            {
                                "partNumber": number,
                                "uploadUrl": signing.artifact_url(
                                    ctx.state.secret,
                                    ctx.base_url,
                                    "PUT",
                                    signing.ARTIFACT_PART,
                                    blob["id"],
                                    part=number,
                                ),
                            }
                            for number, _ in declared
                        ],
                    }
                artifact_blobs.open_multipart(conn, blob["id"], upload_id, declared)
            artifact_files.declare_file(
                conn, artifact["id"], name, md5, blob["id"], blob["birth_artifact_id"]
            )
            row = artifact_files.file_of(conn, artifact["id"], name)
            node = entry_file(ctx, artifact, row, upload=True, multipart=multipart)
            birth = artifact_by_id(conn, blob["birth_artifact_id"]) or artifact
            nodes.append(node.__class__(**{**node.__dict__, "artifact": birth}))
        freed = artifact_blobs.free_unreferenced_blobs(conn, ctx.user.entity)
    artifact_store.remove_blob_files(ctx.state.store, freed)
    edges = [{"node": node, "cursor": f"{index}"} for index, node in enumerate(nodes)]
    return {
        "files": {
            "edges": edges,
            "pageInfo": {
                "startCursor": None,
                "endCursor": None,
                "hasNextPage": False,
                "hasPreviousPage": False,
            },
            "totalCount": len(edges),
            "uploadHeaders": [],
        }
    }


@mutation.field("completeMultipartUploadArtifact")
def resolve_complete_multipart(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    from runapi_server import artifact_routes

    ctx = context_of(info)
    conn = ctx.state.db.read()
    owned_artifact(conn, ctx.user, input["artifactID"])
    blob = artifact_blobs.blob_by_upload(conn, ctx.user.entity, input["uploadID"])
    if blob is None:
        raise BadInput(f"multipart upload {input['uploadID']!r} not found")
    expected_path = f"artifacts/{blob['id']}-{artifact_store.md5_hex(blob['md5'])}"
    if input["storagePath"] != expected_path:
        raise BadInput(f"storagePath {input['storagePath']!r} is not this upload's")
    parts = [
        [int(p["partNumber"]), p["hexMD5"].strip('"').lower()] for p in input["completedParts"]
    ]
    if parts != json.loads(blob["upload_parts"]):
        raise BadInput("completedParts do not match the parts declared in createArtifactFiles")
    bucket = ctx.state.bucket
    if bucket is not None:
        etags = [(int(number), str(etag)) for number, etag in parts]
        bucket_artifacts.complete_multipart(ctx.state, bucket, blob, etags)
    else:
        artifact_routes.assemble_parts(ctx.state, blob, len(parts))
    return {"digest": blob["md5"]}


# --------------------------------------------------------------------------- commit


@mutation.field("commitArtifact")
def resolve_commit_artifact(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    bucket = ctx.state.bucket
    if bucket is not None:  # the bytes went straight to the bucket: look at them first
        found = owned_artifact(ctx.state.db.read(), ctx.user, input["artifactID"])
        if found["state"] != "COMMITTED":
            bucket_artifacts.settle_commit(ctx.state, bucket, ctx.user, found)
    with ctx.state.db.transaction() as conn:
        artifact = owned_artifact(conn, ctx.user, input["artifactID"])
        if artifact["state"] == "COMMITTED":
            return {"artifact": artifact}  # committing twice changes nothing
        manifest = manifest_of(conn, artifact["id"])
        if manifest is not None and manifest["content"] is None:
            raise BadInput("the artifact's manifest was never uploaded: PUT it to its uploadUrl")
        entries = parse_manifest(manifest["content"]) if manifest is not None else []
        rows = []
        for entry in entries:
            blob_id = None
            birth = parse_artifact_id(entry.birth_artifact_id or "")
            if entry.ref is None:
                blob = artifact_blobs.blob_for(conn, artifact["entity"], entry.digest)
                if blob is None or blob["storage"] is None:
                    raise BadInput(f"file {entry.path!r} ({entry.digest}) was never uploaded")
                if blob["size"] != entry.size:
                    raise BadInput(
                        f"file {entry.path!r}: the manifest says {entry.size} bytes,"
                        f" {blob['size']} were uploaded"
                    )
                blob_id, birth = blob["id"], blob["birth_artifact_id"]
            extra = json.dumps(entry.extra) if entry.extra is not None else None
            rows.append(
                artifact_files.FileEntry(
                    name=entry.path,
                    digest=entry.digest,
                    size=entry.size,
                    blob_id=blob_id,
                    birth_artifact_id=birth,
                    ref=entry.ref,
                    extra=extra,
                )
            )
        digest = artifact["digest"]
        if manifest is not None and artifact["digest_algorithm"] == "MANIFEST_MD5":
            computed = logical_digest({entry.path: entry.digest for entry in entries})
            if computed != digest:
                raise BadInput(
                    f"the manifest's digest is {computed}, but the artifact was created"
                    f" with digest {digest!r}"
                )
        artifact_files.replace_files(conn, artifact["id"], rows)
        size = sum(e.size for e in entries)
        store.commit_version(conn, artifact["id"], size, len(entries), now_iso())
        for alias in [LATEST, *json.loads(artifact["aliases_pending"] or "[]")]:
            set_alias(conn, artifact["sequence_id"], artifact["id"], alias)
        freed = artifact_blobs.free_unreferenced_blobs(conn, ctx.user.entity)
        committed = artifact_by_id(conn, artifact["id"])
    artifact_store.remove_blob_files(ctx.state.store, freed)
    return {"artifact": committed}


# --------------------------------------------------------------------------- update

TTL_INHERIT, TTL_DISABLED = -1, -2


@mutation.field("updateArtifact")
def resolve_update_artifact(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Fields left out stay as they are; ``aliases``, when given, is the version's whole
    alias set (wandb's ``Artifact.save()`` without ``addAliases``): listed aliases move here
    from other versions, this version's unlisted ones are removed."""
    ctx = context_of(info)
    changes: dict[str, Any] = {}
    if "description" in input:
        changes["description"] = input["description"]
    if "metadata" in input:
        metadata = input["metadata"]
        if metadata is not None and not isinstance(metadata, dict):
            raise BadInput("metadata must be a JSON object")
        changes["metadata"] = json.dumps(metadata) if metadata is not None else None
    ttl = input.get("ttlDurationSeconds")
    if ttl is not None:
        if ttl < 1 and ttl not in (TTL_INHERIT, TTL_DISABLED):
            raise BadInput(
                "ttlDurationSeconds must be -1 (inherit), -2 (no TTL) or a positive number"
                " of seconds"
            )
        changes["ttl_seconds"] = ttl
    to_add = [tag["tagName"] for tag in input.get("tagsToAdd") or []]
    to_delete = [tag["tagName"] for tag in input.get("tagsToDelete") or []]
    if any(not tag for tag in to_add):
        raise BadInput("tag names must not be empty")
    with ctx.state.db.transaction() as conn:
        artifact = owned_artifact(conn, ctx.user, input["artifactID"])
        aliases = input.get("aliases")
        names = None if aliases is None else alias_names(aliases, artifact["sequence_name"])
        store.update_version(conn, artifact["id"], changes, now_iso())
        store.add_tags(conn, artifact["id"], to_add)
        store.remove_tags(conn, artifact["id"], to_delete)
        if names is not None and artifact["state"] != "COMMITTED":
            store.set_pending_aliases(conn, artifact["id"], json.dumps(names), None)
        elif names is not None:
            store.keep_only_aliases(conn, artifact["id"], names)
            for name in names:
                set_alias(conn, artifact["sequence_id"], artifact["id"], name)
        updated = artifact_by_id(conn, artifact["id"])
    return {"artifact": updated}


@mutation.field("linkArtifact")
def resolve_link_artifact(_obj: Any, _info: GraphQLResolveInfo, input: dict[str, Any]) -> None:
    """Portfolios (registries, linked collections) are not kept here: a clear error, not a
    silent null."""
    raise BadInput(
        "linkArtifact: linking an artifact to a portfolio (registry) is not supported by this"
        " server"
    )


BINDABLES: list[SchemaBindable] = [mutation]
