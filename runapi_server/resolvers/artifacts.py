"""Artifacts: ``Project.artifact``, a run's output and input artifacts, and the
``Artifact`` / ``ArtifactSequence`` / alias / type / tag fields (``createArtifact`` and
``useArtifact`` are in :mod:`runapi_server.resolvers.artifact_versions`).

Parent objects: an ``Artifact`` is a version row of :mod:`runapi_server.storage.artifacts`;
an ``ArtifactSequence`` is an ``artifact_sequences`` row; aliases, types and tags are plain
dicts. Versions are ``<sequence>:v<N>``; ``latest`` follows the newest committed version.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final

from ariadne import InterfaceType, ObjectType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server.connections import paginate
from runapi_server.context import context_of
from runapi_server.resolvers.columns import bind_columns
from runapi_server.resolvers.query import opaque_id
from runapi_server.storage import artifacts as store
from runapi_server.storage.connection import Connection, Row
from runapi_server.storage.runs import project_by_id

artifact_type = ObjectType("Artifact")
sequence_type = ObjectType("ArtifactSequence")
collection_interface = InterfaceType("ArtifactCollection")
project_type = ObjectType("Project")
run_type = ObjectType("Run")

COLLECTION_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
VERSION_ALIAS_RE: Final = re.compile(r"^v\d+$")
LATEST: Final = "latest"


# --------------------------------------------------------------------------- lookups


def parse_artifact_id(value: str) -> int | None:
    """The database id in an ``Artifact.id`` (base64 of ``Artifact:<n>``), else None."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    kind, _, number = decoded.partition(":")
    return int(number) if kind == "Artifact" and number.isdigit() else None


def find_artifact_by_name(conn: Connection, project_db_id: int, name: str) -> Row | None:
    """``seq:vN``, ``seq:<alias>`` or ``seq`` (meaning ``seq:latest``) in a project."""
    sequence, _, version = name.partition(":")
    version = version or LATEST
    if VERSION_ALIAS_RE.match(version):
        return store.artifact_by_version(conn, project_db_id, sequence, int(version[1:]))
    return store.artifact_by_alias(conn, project_db_id, sequence, version)


# --------------------------------------------------------------------------- Artifact fields


@artifact_type.field("id")
def resolve_artifact_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("Artifact", obj["id"])


_ARTIFACT_COLUMNS: Final = {
    "digest": "digest",
    "commitHash": "digest",
    "description": "description",
    "state": "state",
    "size": "size",
    "fileCount": "file_count",
    "versionIndex": "version_index",
    "metadata": "metadata",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "historyStep": "history_step",
    "ttlDurationSeconds": "ttl_seconds",
}


bind_columns(artifact_type, _ARTIFACT_COLUMNS)


@artifact_type.field("ttlIsInherited")
def resolve_artifact_ttl_inherited(obj: Row, _info: GraphQLResolveInfo) -> bool:
    return bool(obj["ttl_seconds"] == -1)


@artifact_type.field("tags")
def resolve_artifact_tags(obj: Row, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    tags = store.version_tags(context_of(info).state.db.read(), obj["id"])
    return [{"id": opaque_id("Tag", tag_id), "name": name} for tag_id, name in tags]


@artifact_type.field("aliases")
def resolve_artifact_aliases(obj: Row, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    conn = context_of(info).state.db.read()
    aliases = store.version_aliases(conn, obj["id"])
    sequence = store.sequence_by_id(conn, obj["sequence_id"])
    return [
        {
            "id": opaque_id("ArtifactAlias", alias_id),
            "alias": alias,
            "artifactCollectionName": obj["sequence_name"],
            "artifactCollection": sequence,
        }
        for alias_id, alias in aliases
    ]


@artifact_type.field("artifactType")
def resolve_artifact_type(obj: Row, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "id": opaque_id("ArtifactType", obj["project_id"], obj["type_name"]),
        "name": obj["type_name"],
        "description": None,
        "createdAt": obj["created_at"],
        "project_id": obj["project_id"],
    }


@artifact_type.field("artifactSequence")
def resolve_artifact_sequence(obj: Row, info: GraphQLResolveInfo) -> Any:
    return store.sequence_by_id(context_of(info).state.db.read(), obj["sequence_id"])


# --------------------------------------------------------------------------- collections


@collection_interface.type_resolver
def resolve_collection_type(_obj: Any, *_: Any) -> str:
    return "ArtifactSequence"  # portfolios are not stored


@sequence_type.field("id")
def resolve_sequence_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("ArtifactCollection", obj["id"])


@sequence_type.field("name")
def resolve_sequence_name(obj: Row, _info: GraphQLResolveInfo) -> str:
    name: str = obj["name"]
    return name


@sequence_type.field("description")
def resolve_sequence_description(obj: Row, _info: GraphQLResolveInfo) -> str | None:
    description: str | None = obj["description"]
    return description


@sequence_type.field("createdAt")
def resolve_sequence_created_at(obj: Row, _info: GraphQLResolveInfo) -> str:
    created: str = obj["created_at"]
    return created


@sequence_type.field("project")
def resolve_sequence_project(obj: Row, info: GraphQLResolveInfo) -> Any:
    return project_by_id(context_of(info).state.db.read(), obj["project_id"])


@sequence_type.field("state")
def resolve_sequence_state(_obj: Row, _info: GraphQLResolveInfo) -> str:
    return "READY"


@sequence_type.field("latestArtifact")
def resolve_sequence_latest(obj: Row, info: GraphQLResolveInfo) -> Any:
    conn = context_of(info).state.db.read()
    return find_artifact_by_name(conn, obj["project_id"], f"{obj['name']}:{LATEST}")


# --------------------------------------------------------------------------- Project / Run


@project_type.field("artifact")
def resolve_project_artifact(
    obj: Row, info: GraphQLResolveInfo, name: str, enableTracking: bool | None = None
) -> Any:
    return find_artifact_by_name(context_of(info).state.db.read(), obj["id"], name)


def _artifact_connection(
    obj: Row,
    info: GraphQLResolveInfo,
    kind: str,
    window: dict[str, Any],
) -> dict[str, Any]:
    """A run's artifact connection; input edges also carry `usedAs`."""
    ctx = context_of(info)
    ctx.state.limits.check_page_size(window.get("first"), window.get("last"))
    conn = ctx.state.db.read()
    if kind == "inputArtifacts":
        rows = store.used_by_run(conn, obj["id"])
    else:
        rows = store.created_by_run(conn, obj["id"])
    page = paginate(rows, kind, **window)
    edges: list[dict[str, Any]] = []
    for node, cursor in page.edges:
        edge: dict[str, Any] = {"node": node, "cursor": cursor}
        if kind == "inputArtifacts":
            edge["usedAs"] = json.loads(node["used_as"] or "[]")
        edges.append(edge)
    return {"totalCount": page.total, "edges": edges, "pageInfo": page.page_info}


@run_type.field("outputArtifacts")
def resolve_output_artifacts(obj: Row, info: GraphQLResolveInfo, **window: Any) -> dict[str, Any]:
    return _artifact_connection(obj, info, "outputArtifacts", window)


@run_type.field("inputArtifacts")
def resolve_input_artifacts(obj: Row, info: GraphQLResolveInfo, **window: Any) -> dict[str, Any]:
    return _artifact_connection(obj, info, "inputArtifacts", window)


BINDABLES: list[SchemaBindable] = [
    artifact_type,
    sequence_type,
    collection_interface,
    project_type,
    run_type,
]
