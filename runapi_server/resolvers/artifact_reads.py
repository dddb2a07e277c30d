"""How clients find artifact versions: by id, by type, by collection and membership.

``Query.artifact(id)``, ``Query.artifactCollection(id)``, ``Query.clientIDMapping``,
``Project.artifactType(s)`` / ``artifactCollection(s)`` / ``artifactCollectionMembership``,
the ``ArtifactType``, collection and ``ArtifactCollectionMembership`` fields, and the
remaining ``Artifact`` fields. An ``ArtifactType`` is a dict (project row id and name); a
membership is ``{"artifact": row}`` (versions belong to one sequence here). Another
user's objects read as null, exactly as missing ones.
"""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType, UnionType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server.artifact_store import parse_opaque
from runapi_server.connections import paginate
from runapi_server.context import context_of
from runapi_server.resolvers.artifact_files import files_connection
from runapi_server.resolvers.artifacts import find_artifact_by_name, parse_artifact_id
from runapi_server.resolvers.query import opaque_id
from runapi_server.storage import artifacts as store
from runapi_server.storage.artifacts import artifact_by_id
from runapi_server.storage.connection import Connection, Row
from runapi_server.storage.runs import run_by_id

query = QueryType()
entity_type = ObjectType("Entity")
project_type = ObjectType("Project")
artifact_type = ObjectType("Artifact")
type_type = ObjectType("ArtifactType")
sequence_type = ObjectType("ArtifactSequence")
membership_type = ObjectType("ArtifactCollectionMembership")
initiator = UnionType("Initiator")

EMPTY_PAGE_INFO = {
    "startCursor": None,
    "endCursor": None,
    "hasNextPage": False,
    "hasPreviousPage": False,
}


def _conn(info: GraphQLResolveInfo) -> Connection:
    return context_of(info).state.db.read()


def _own(info: GraphQLResolveInfo, row: Row | None) -> Row | None:
    return row if row is not None and row["entity"] == context_of(info).user.entity else None


def artifact_type_dict(project_db_id: int, name: str, created_at: str) -> dict[str, Any]:
    return {
        "id": opaque_id("ArtifactType", project_db_id, name),
        "name": name,
        "description": None,
        "createdAt": created_at,
        "project_id": project_db_id,
    }


# --------------------------------------------------------------------------- Query


@query.field("artifact")
def resolve_artifact(_obj: Any, info: GraphQLResolveInfo, id: str) -> Any:
    db_id = parse_artifact_id(id)
    return _own(info, artifact_by_id(_conn(info), db_id)) if db_id is not None else None


@query.field("artifactCollection")
def resolve_collection_by_id(_obj: Any, info: GraphQLResolveInfo, id: str) -> Any:
    db_id = parse_opaque(id, "ArtifactCollection")
    if db_id is None:
        return None
    return _own(info, store.find_sequence(_conn(info), sequence_id=db_id))


@query.field("clientIDMapping")
def resolve_client_id_mapping(_obj: Any, info: GraphQLResolveInfo, clientID: str) -> Any:
    row = store.artifact_by_client_id(_conn(info), clientID, context_of(info).user.entity)
    return None if row is None else {"serverID": opaque_id("Artifact", row["id"])}


@entity_type.field("xxhashDigestsEnabled")
def resolve_xxhash(_obj: Any, _info: GraphQLResolveInfo) -> bool:
    return False


# --------------------------------------------------------------------------- Project


def _types(info: GraphQLResolveInfo, project_db_id: int) -> list[dict[str, Any]]:
    return [
        artifact_type_dict(project_db_id, name, created)
        for name, created in store.project_types(_conn(info), project_db_id)
    ]


@project_type.field("artifactType")
def resolve_project_artifact_type(obj: Row, info: GraphQLResolveInfo, name: str) -> Any:
    return next((t for t in _types(info, obj["id"]) if t["name"] == name), None)


@project_type.field("artifactTypes")
def resolve_project_artifact_types(
    obj: Row, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    context_of(info).state.limits.check_page_size(first, None)
    page = paginate(_types(info, obj["id"]), "artifactTypes", first=first, after=after)
    return {
        "edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges],
        "pageInfo": page.page_info,
    }


def _collections(
    info: GraphQLResolveInfo, project_db_id: int, type_name: str | None, window: dict[str, Any]
) -> dict[str, Any]:
    context_of(info).state.limits.check_page_size(window.get("first"), None)
    rows = store.sequences_of_project(_conn(info), project_db_id, type_name)
    page = paginate(
        rows, "artifactCollections", first=window.get("first"), after=window.get("after")
    )
    return {
        "totalCount": page.total,
        "edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges],
        "pageInfo": page.page_info,
    }


@project_type.field("artifactCollection")
def resolve_project_collection(obj: Row, info: GraphQLResolveInfo, name: str) -> Any:
    return _own(info, store.find_sequence(_conn(info), project_id=obj["id"], name=name))


@project_type.field("artifactCollections")
def resolve_project_collections(
    obj: Row, info: GraphQLResolveInfo, **window: Any
) -> dict[str, Any]:
    return _collections(info, obj["id"], None, window)


def membership(row: Row | None) -> dict[str, Any] | None:
    return None if row is None else {"artifact": row}


def _committed_by_name(conn: Connection, project_db_id: int, name: str) -> Any:
    row = find_artifact_by_name(conn, project_db_id, name)
    return row if row is not None and row["state"] == "COMMITTED" else None


@project_type.field("artifactCollectionMembership")
def resolve_project_membership(obj: Row, info: GraphQLResolveInfo, name: str) -> Any:
    return membership(_committed_by_name(_conn(info), obj["id"], name))


# --------------------------------------------------------------------------- ArtifactType


@type_type.field("artifact")
def resolve_type_artifact(obj: dict[str, Any], info: GraphQLResolveInfo, name: str) -> Any:
    row = _committed_by_name(_conn(info), obj["project_id"], name)
    return row if row is not None and row["type_name"] == obj["name"] else None


def _typed_sequence(obj: dict[str, Any], info: GraphQLResolveInfo, name: str) -> Any:
    found = store.find_sequence(
        _conn(info), project_id=obj["project_id"], name=name, type_name=obj["name"]
    )
    return _own(info, found)


@type_type.field("artifactCollection")
def resolve_type_collection(obj: dict[str, Any], info: GraphQLResolveInfo, name: str) -> Any:
    return _typed_sequence(obj, info, name)


@type_type.field("artifactSequence")
def resolve_type_sequence(obj: dict[str, Any], info: GraphQLResolveInfo, name: str) -> Any:
    return _typed_sequence(obj, info, name)


@type_type.field("artifactCollections")
def resolve_type_collections(
    obj: dict[str, Any], info: GraphQLResolveInfo, **window: Any
) -> dict[str, Any]:
    return _collections(info, obj["project_id"], obj["name"], window)


# --------------------------------------------------------------------------- collections


@sequence_type.field("updatedAt")
def resolve_sequence_updated(obj: Row, _info: GraphQLResolveInfo) -> str:
    created: str = obj["created_at"]
    return created


@sequence_type.field("defaultArtifactType")
def resolve_sequence_type(obj: Row, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return artifact_type_dict(obj["project_id"], obj["type_name"], obj["created_at"])


@sequence_type.field("digestAlgorithm")
def resolve_sequence_digest_algorithm(_obj: Row, _info: GraphQLResolveInfo) -> str:
    return "MANIFEST_MD5"


@sequence_type.field("tags")
def resolve_sequence_tags(_obj: Row, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return {"edges": [], "pageInfo": EMPTY_PAGE_INFO}


@sequence_type.field("aliases")
def resolve_sequence_aliases(
    obj: Row, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    context_of(info).state.limits.check_page_size(first, None)
    nodes = [
        {
            "id": opaque_id("ArtifactAlias", alias_id),
            "alias": alias,
            "artifactCollectionName": obj["name"],
            "artifactCollection": obj,
        }
        for alias_id, alias in store.sequence_aliases(_conn(info), obj["id"])
    ]
    page = paginate(nodes, "collectionAliases", first=first, after=after)
    return {
        "edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges],
        "pageInfo": page.page_info,
    }


@sequence_type.field("artifacts")
def resolve_sequence_artifacts(obj: Row, info: GraphQLResolveInfo, **window: Any) -> dict[str, Any]:
    context_of(info).state.limits.check_page_size(window.get("first"), None)
    rows = store.committed_versions(_conn(info), obj["id"])
    page = paginate(
        rows, "collectionArtifacts", first=window.get("first"), after=window.get("after")
    )
    return {
        "totalCount": page.total,
        "edges": [
            {"node": node, "version": f"v{node['version_index']}", "cursor": cursor}
            for node, cursor in page.edges
        ],
        "pageInfo": page.page_info,
    }


@sequence_type.field("artifactMembership")
def resolve_sequence_membership(obj: Row, info: GraphQLResolveInfo, aliasName: str) -> Any:
    return membership(
        _committed_by_name(_conn(info), obj["project_id"], f"{obj['name']}:{aliasName}")
    )


# --------------------------------------------------------------------------- memberships


@membership_type.field("id")
def resolve_membership_id(obj: dict[str, Any], _info: GraphQLResolveInfo) -> str:
    return opaque_id("ArtifactCollectionMembership", obj["artifact"]["id"])


@membership_type.field("versionIndex")
def resolve_membership_version(obj: dict[str, Any], _info: GraphQLResolveInfo) -> int:
    index: int = obj["artifact"]["version_index"]
    return index


@membership_type.field("createdAt")
def resolve_membership_created(obj: dict[str, Any], _info: GraphQLResolveInfo) -> str:
    created: str = obj["artifact"]["created_at"]
    return created


@membership_type.field("aliases")
def resolve_membership_aliases(obj: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    from runapi_server.resolvers.artifacts import resolve_artifact_aliases

    return resolve_artifact_aliases(obj["artifact"], info)


@membership_type.field("artifactCollection")
def resolve_membership_collection(obj: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    sequence_id = obj["artifact"]["sequence_id"]
    return _own(info, store.find_sequence(_conn(info), sequence_id=sequence_id))


@membership_type.field("artifact")
def resolve_membership_artifact(obj: dict[str, Any], _info: GraphQLResolveInfo) -> Any:
    return obj["artifact"]


@membership_type.field("files")
def resolve_membership_files(
    obj: dict[str, Any],
    info: GraphQLResolveInfo,
    names: list[str] | None = None,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    return files_connection(info, obj["artifact"], names, after, first)


# --------------------------------------------------------------------------- Artifact


@artifact_type.field("digestAlgorithm")
def resolve_artifact_digest_algorithm(obj: Row, _info: GraphQLResolveInfo) -> str:
    algorithm: str = obj["digest_algorithm"]
    return algorithm


@artifact_type.field("artifactMemberships")
def resolve_artifact_memberships(obj: Row, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "edges": [{"node": membership(obj), "cursor": "0"}],
        "pageInfo": EMPTY_PAGE_INFO,
    }


@artifact_type.field("usedBy")
def resolve_artifact_used_by(obj: Row, info: GraphQLResolveInfo, **window: Any) -> dict[str, Any]:
    context_of(info).state.limits.check_page_size(window.get("first"), window.get("last"))
    rows = store.runs_using(_conn(info), obj["id"])
    page = paginate(
        rows,
        "usedBy",
        first=window.get("first"),
        after=window.get("after"),
        last=window.get("last"),
        before=window.get("before"),
    )
    return {
        "edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges],
        "pageInfo": page.page_info,
        "totalCount": page.total,
    }


@artifact_type.field("createdBy")
def resolve_artifact_created_by(obj: Row, info: GraphQLResolveInfo) -> Any:
    if obj["created_by_run_id"] is None:
        return None
    return run_by_id(_conn(info), obj["created_by_run_id"])


@initiator.type_resolver
def resolve_initiator_type(_obj: Any, *_: Any) -> str:
    return "Run"


BINDABLES: list[SchemaBindable] = [
    query,
    entity_type,
    project_type,
    artifact_type,
    type_type,
    sequence_type,
    membership_type,
    initiator,
]
