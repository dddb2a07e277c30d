"""Artifact versions made and used: ``createArtifact`` (a PENDING version, or the
committed one with the same digest) and ``useArtifact``, with the alias rules they share
with ``commitArtifact`` (``latest`` follows the newest committed version)."""

from __future__ import annotations

import json
from typing import Any

from ariadne import MutationType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server.auth import AuthUser
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.lookup import find_project, find_run
from runapi_server.resolvers.artifacts import (
    COLLECTION_NAME_RE,
    LATEST,
    VERSION_ALIAS_RE,
    parse_artifact_id,
)
from runapi_server.storage import artifacts as store
from runapi_server.storage.artifacts import artifact_by_id, set_alias
from runapi_server.storage.connection import Connection, Row
from runapi_server.storage.runs import ensure_project
from runapi_server.timeutil import now_iso

mutation = MutationType()


# --------------------------------------------------------------------------- useArtifact


def _caller_run(conn: Connection, user: AuthUser, entity: str, project: str, run_name: str) -> Row:
    run = find_run(conn, user, entity, project, run_name)
    if run is None:
        raise BadInput(f"run {entity}/{project}/{run_name} not found")
    return run


@mutation.field("useArtifact")
def resolve_use_artifact(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    artifact_db_id = parse_artifact_id(input["artifactID"])
    with ctx.state.db.transaction() as conn:
        run = _caller_run(
            conn, ctx.user, input["entityName"], input["projectName"], input["runName"]
        )
        artifact = artifact_by_id(conn, artifact_db_id) if artifact_db_id is not None else None
        wanted_entity = input.get("artifactEntityName")
        if (
            artifact is None
            or artifact["entity"] != ctx.user.entity
            or (wanted_entity is not None and wanted_entity != artifact["entity"])
        ):
            raise BadInput(f"artifact {input['artifactID']!r} not found")
        used = store.usage_names(conn, run["id"], artifact["id"])
        names: list[str] = json.loads(used or "[]")
        used_as = input.get("usedAs")
        if used_as is not None and used_as not in names:
            names.append(used_as)
        store.record_usage(conn, run["id"], artifact["id"], json.dumps(names), now_iso())
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


# --------------------------------------------------------------------------- createArtifact


def _collection_name(input: dict[str, Any]) -> str:
    names = list(input.get("artifactCollectionNames") or [])
    single = input.get("artifactCollectionName")
    if single is not None:
        names = [single, *names]
    if not names:
        raise BadInput(
            "artifactCollectionName or artifactCollectionNames must name the artifact's collection"
        )
    if len(set(names)) > 1:
        raise BadInput("an artifact version belongs to exactly one collection here; got several")
    name: str = names[0]
    if not COLLECTION_NAME_RE.match(name):
        raise BadInput(
            f"invalid artifact collection name {name!r}: use 1-128 letters, digits, '_', '.', '-'"
        )
    return name


def alias_names(aliases: Any, collection: str) -> list[str]:
    names: list[str] = []
    for alias in aliases or []:
        if alias["artifactCollectionName"] != collection:
            raise BadInput(
                f"alias {alias['alias']!r} names collection"
                f" {alias['artifactCollectionName']!r}, not {collection!r}"
            )
        name = alias["alias"]
        if not name or ":" in name or "/" in name:
            raise BadInput(f"invalid alias {name!r}")
        if VERSION_ALIAS_RE.match(name):
            raise BadInput(f"alias {name!r} is reserved: versions are named v0, v1, ...")
        if name not in names:
            names.append(name)
    return names


def _is_newest_committed(conn: Connection, sequence_id: int, artifact_db_id: int) -> bool:
    """Whether the version is the collection's newest committed one: a version found again
    by digest deduplication takes the client's ``latest`` only then (re-logging an older
    version's contents must not move ``latest`` back to it)."""
    return store.newest_committed_id(conn, sequence_id) == artifact_db_id


def _ensure_sequence(
    conn: Connection, project_db_id: int, name: str, type_name: str, now: str
) -> int:
    row = store.sequence_for_write(conn, project_db_id, name)
    if row is not None:
        if row["type_name"] != type_name:
            raise BadInput(
                f"artifact collection {name!r} has type {row['type_name']!r}, not {type_name!r}"
            )
        existing: int = row["id"]
        return existing
    return store.create_sequence(conn, project_db_id, name, type_name, now)


def _project_for_write(conn: Connection, user: AuthUser, entity: str, name: str, now: str) -> int:
    if entity != user.entity:
        raise BadInput(f"entity {entity!r} not found")
    if not name or any(c in name for c in "/\\#?%:"):
        raise BadInput(f"invalid project name {name!r}")
    project = find_project(conn, user, entity, name)
    if project is not None:
        found: int = project["id"]
        return found
    return ensure_project(conn, entity, name, now)


@mutation.field("createArtifact")
def resolve_create_artifact(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    now = now_iso()
    collection = _collection_name(input)
    aliases = alias_names(input.get("aliases"), collection)
    type_name = input["artifactTypeName"]
    if not type_name:
        raise BadInput("artifactTypeName must not be empty")
    digest = input["digest"]
    if not digest:
        raise BadInput("digest must not be empty")
    metadata = input.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadInput("metadata must be a JSON object")
    ttl = input.get("ttlDurationSeconds")
    if ttl is not None and ttl < 0 and ttl != -1:
        raise BadInput("ttlDurationSeconds must be -1 (inherit) or a positive number of seconds")
    tags = [tag["tagName"] for tag in input.get("tags") or []]
    with ctx.state.db.transaction() as conn:
        entity, project_name = input["entityName"], input["projectName"]
        project_db_id = _project_for_write(conn, ctx.user, entity, project_name, now)
        run_db_id = None
        if input.get("runName") is not None:
            run_db_id = _caller_run(conn, ctx.user, entity, project_name, input["runName"])["id"]
        sequence_id = _ensure_sequence(conn, project_db_id, collection, type_name, now)
        existing = store.artifact_by_digest(conn, sequence_id, digest)
        if existing is not None and existing["state"] == "COMMITTED":
            # Digest deduplication: the committed version is returned and the client stops.
            artifact_db_id: int = existing["id"]
            store.touch_version(conn, artifact_db_id, now)
            newest = _is_newest_committed(conn, sequence_id, artifact_db_id)
            for alias in aliases:
                if alias != LATEST or newest:
                    set_alias(conn, sequence_id, artifact_db_id, alias)
        elif existing is not None:
            artifact_db_id = existing["id"]
            pending = json.loads(existing["aliases_pending"] or "[]")
            pending += [alias for alias in aliases if alias not in pending]
            store.set_pending_aliases(conn, artifact_db_id, json.dumps(pending), now)
        else:
            new = store.NewVersion(
                sequence_id=sequence_id,
                version_index=store.next_version_index(conn, sequence_id),
                digest=digest,
                description=input.get("description"),
                metadata=json.dumps(metadata) if metadata is not None else None,
                history_step=input.get("historyStep"),
                ttl_seconds=-1 if ttl is None else ttl,
                created_by_run_id=run_db_id,
                digest_algorithm=input["digestAlgorithm"],
                client_id=input.get("clientID"),
                aliases_pending=json.dumps(aliases),
                created_at=now,
            )
            artifact_db_id = store.create_version(conn, new)
        store.add_tags(conn, artifact_db_id, tags)
        artifact = artifact_by_id(conn, artifact_db_id)
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


BINDABLES: list[SchemaBindable] = [mutation]
