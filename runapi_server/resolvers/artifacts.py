"""Artifacts: ``createArtifact``, ``useArtifact``, ``Project.artifact``, a run's output and
input artifacts, and the ``Artifact`` / ``ArtifactSequence`` / alias / type / tag fields.

Parent objects: an ``Artifact`` is a row of :data:`ARTIFACT_SELECT`; an ``ArtifactSequence``
is an ``artifact_sequences`` row; aliases, types and tags are plain dicts. Versions are
``<sequence>:v<N>``; ``latest`` follows the newest version. No manifests are stored, so a
version has no files (``size`` and ``fileCount`` 0, ``currentManifest`` null).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from typing import Any, Final

from ariadne import InterfaceType, MutationType, ObjectType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server.auth import AuthUser
from runapi_server.connections import paginate
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.lookup import find_project, find_run
from runapi_server.resolvers.query import opaque_id, project_by_id
from runapi_server.timeutil import now_iso

artifact_type = ObjectType("Artifact")
sequence_type = ObjectType("ArtifactSequence")
collection_interface = InterfaceType("ArtifactCollection")
project_type = ObjectType("Project")
run_type = ObjectType("Run")
mutation = MutationType()

ARTIFACT_SELECT: Final = (
    "SELECT artifacts.*, artifact_sequences.name AS sequence_name,"
    " artifact_sequences.type_name AS type_name, artifact_sequences.project_id AS project_id,"
    " projects.entity AS entity, projects.name AS project_name"
    " FROM artifacts JOIN artifact_sequences ON artifact_sequences.id = artifacts.sequence_id"
    " JOIN projects ON projects.id = artifact_sequences.project_id"
)
COLLECTION_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
VERSION_ALIAS_RE: Final = re.compile(r"^v\d+$")
LATEST: Final = "latest"


# --------------------------------------------------------------------------- lookups


def artifact_by_id(conn: sqlite3.Connection, artifact_db_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        ARTIFACT_SELECT + " WHERE artifacts.id = ?", (artifact_db_id,)
    ).fetchone()
    return row


def parse_artifact_id(value: str) -> int | None:
    """The database id in an ``Artifact.id`` (base64 of ``Artifact:<n>``), else None."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    kind, _, number = decoded.partition(":")
    return int(number) if kind == "Artifact" and number.isdigit() else None


def find_artifact_by_name(
    conn: sqlite3.Connection, project_db_id: int, name: str
) -> sqlite3.Row | None:
    """``seq:vN``, ``seq:<alias>`` or ``seq`` (meaning ``seq:latest``) in a project."""
    sequence, _, version = name.partition(":")
    version = version or LATEST
    arg: int | str = version
    where = (
        "artifacts.id = (SELECT artifact_id FROM artifact_aliases"
        " WHERE sequence_id = artifact_sequences.id AND alias = ?)"
    )
    if VERSION_ALIAS_RE.match(version):
        where, arg = "artifacts.version_index = ?", int(version[1:])
    row: sqlite3.Row | None = conn.execute(
        ARTIFACT_SELECT
        + f" WHERE artifact_sequences.project_id = ? AND artifact_sequences.name = ? AND {where}",
        (project_db_id, sequence, arg),
    ).fetchone()
    return row


def _sequence_row(conn: sqlite3.Connection, sequence_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM artifact_sequences WHERE id = ?", (sequence_id,)
    ).fetchone()
    return row


# --------------------------------------------------------------------------- Artifact fields


@artifact_type.field("id")
def resolve_artifact_id(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str:
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


def _bind_column(field: str, column: str) -> None:
    def resolve(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> Any:
        return obj[column]

    artifact_type.set_field(field, resolve)


for _field, _column in _ARTIFACT_COLUMNS.items():
    _bind_column(_field, _column)


@artifact_type.field("ttlIsInherited")
def resolve_artifact_ttl_inherited(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> bool:
    return bool(obj["ttl_seconds"] == -1)


@artifact_type.field("tags")
def resolve_artifact_tags(obj: sqlite3.Row, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    rows = (
        context_of(info)
        .state.db.read()
        .execute(
            "SELECT id, name FROM artifact_tags WHERE artifact_id = ? ORDER BY id", (obj["id"],)
        )
        .fetchall()
    )
    return [{"id": opaque_id("Tag", r["id"]), "name": r["name"]} for r in rows]


@artifact_type.field("aliases")
def resolve_artifact_aliases(obj: sqlite3.Row, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    conn = context_of(info).state.db.read()
    rows = conn.execute(
        "SELECT id, alias FROM artifact_aliases WHERE artifact_id = ? ORDER BY id", (obj["id"],)
    ).fetchall()
    sequence = _sequence_row(conn, obj["sequence_id"])
    return [
        {
            "id": opaque_id("ArtifactAlias", r["id"]),
            "alias": r["alias"],
            "artifactCollectionName": obj["sequence_name"],
            "artifactCollection": sequence,
        }
        for r in rows
    ]


@artifact_type.field("artifactType")
def resolve_artifact_type(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "id": opaque_id("ArtifactType", obj["project_id"], obj["type_name"]),
        "name": obj["type_name"],
        "description": None,
        "createdAt": obj["created_at"],
        "project_id": obj["project_id"],
    }


@artifact_type.field("artifactSequence")
def resolve_artifact_sequence(obj: sqlite3.Row, info: GraphQLResolveInfo) -> Any:
    return _sequence_row(context_of(info).state.db.read(), obj["sequence_id"])


# --------------------------------------------------------------------------- collections


@collection_interface.type_resolver
def resolve_collection_type(_obj: Any, *_: Any) -> str:
    return "ArtifactSequence"  # portfolios are not stored


@sequence_type.field("id")
def resolve_sequence_id(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("ArtifactCollection", obj["id"])


@sequence_type.field("name")
def resolve_sequence_name(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str:
    name: str = obj["name"]
    return name


@sequence_type.field("description")
def resolve_sequence_description(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str | None:
    description: str | None = obj["description"]
    return description


@sequence_type.field("createdAt")
def resolve_sequence_created_at(obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str:
    created: str = obj["created_at"]
    return created


@sequence_type.field("project")
def resolve_sequence_project(obj: sqlite3.Row, info: GraphQLResolveInfo) -> Any:
    return project_by_id(context_of(info).state.db.read(), obj["project_id"])


@sequence_type.field("state")
def resolve_sequence_state(_obj: sqlite3.Row, _info: GraphQLResolveInfo) -> str:
    return "READY"


@sequence_type.field("latestArtifact")
def resolve_sequence_latest(obj: sqlite3.Row, info: GraphQLResolveInfo) -> Any:
    conn = context_of(info).state.db.read()
    return find_artifact_by_name(conn, obj["project_id"], f"{obj['name']}:{LATEST}")


# --------------------------------------------------------------------------- Project / Run


@project_type.field("artifact")
def resolve_project_artifact(
    obj: sqlite3.Row, info: GraphQLResolveInfo, name: str, enableTracking: bool | None = None
) -> Any:
    return find_artifact_by_name(context_of(info).state.db.read(), obj["id"], name)


_OUTPUTS_SQL = (
    ARTIFACT_SELECT + " WHERE artifacts.created_by_run_id = ? AND artifacts.state = 'COMMITTED'"
    " ORDER BY artifacts.id"
)
_INPUTS_SQL = (
    ARTIFACT_SELECT.replace("SELECT ", "SELECT artifact_usages.used_as AS used_as, ", 1)
    + " JOIN artifact_usages ON artifact_usages.artifact_id = artifacts.id"
    " WHERE artifact_usages.run_id = ? ORDER BY artifact_usages.rowid"
)


def _artifact_connection(
    obj: sqlite3.Row,
    info: GraphQLResolveInfo,
    kind: str,
    sql: str,
    window: dict[str, Any],
) -> dict[str, Any]:
    """A run's artifact connection; input edges also carry `usedAs`."""
    ctx = context_of(info)
    ctx.state.limits.check_page_size(window.get("first"), window.get("last"))
    rows = ctx.state.db.read().execute(sql, (obj["id"],)).fetchall()
    page = paginate(rows, kind, **window)
    edges: list[dict[str, Any]] = []
    for node, cursor in page.edges:
        edge: dict[str, Any] = {"node": node, "cursor": cursor}
        if kind == "inputArtifacts":
            edge["usedAs"] = json.loads(node["used_as"] or "[]")
        edges.append(edge)
    return {"totalCount": page.total, "edges": edges, "pageInfo": page.page_info}


@run_type.field("outputArtifacts")
def resolve_output_artifacts(
    obj: sqlite3.Row, info: GraphQLResolveInfo, **window: Any
) -> dict[str, Any]:
    return _artifact_connection(obj, info, "outputArtifacts", _OUTPUTS_SQL, window)


@run_type.field("inputArtifacts")
def resolve_input_artifacts(
    obj: sqlite3.Row, info: GraphQLResolveInfo, **window: Any
) -> dict[str, Any]:
    return _artifact_connection(obj, info, "inputArtifacts", _INPUTS_SQL, window)


# --------------------------------------------------------------------------- useArtifact


def _caller_run(
    conn: sqlite3.Connection, user: AuthUser, entity: str, project: str, run_name: str
) -> sqlite3.Row:
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
        used = conn.execute(
            "SELECT used_as FROM artifact_usages WHERE run_id = ? AND artifact_id = ?",
            (run["id"], artifact["id"]),
        ).fetchone()
        names: list[str] = json.loads(used["used_as"] or "[]") if used else []
        used_as = input.get("usedAs")
        if used_as is not None and used_as not in names:
            names.append(used_as)
        conn.execute(
            "INSERT INTO artifact_usages (run_id, artifact_id, used_as, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (run_id, artifact_id)"
            " DO UPDATE SET used_as = excluded.used_as",
            (run["id"], artifact["id"], json.dumps(names), now_iso()),
        )
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


def set_alias(conn: sqlite3.Connection, sequence_id: int, artifact_id: int, alias: str) -> None:
    conn.execute(
        "INSERT INTO artifact_aliases (sequence_id, artifact_id, alias) VALUES (?, ?, ?)"
        " ON CONFLICT (sequence_id, alias) DO UPDATE SET artifact_id = excluded.artifact_id",
        (sequence_id, artifact_id, alias),
    )


def _is_newest_committed(conn: sqlite3.Connection, sequence_id: int, artifact_db_id: int) -> bool:
    """Whether the version is the collection's newest committed one: a version found again
    by digest deduplication takes the client's ``latest`` only then (re-logging an older
    version's contents must not move ``latest`` back to it)."""
    row = conn.execute(
        "SELECT id FROM artifacts WHERE sequence_id = ? AND state = 'COMMITTED'"
        " ORDER BY version_index DESC LIMIT 1",
        (sequence_id,),
    ).fetchone()
    return row is not None and row["id"] == artifact_db_id


def _ensure_sequence(
    conn: sqlite3.Connection, project_db_id: int, name: str, type_name: str, now: str
) -> int:
    row = conn.execute(
        "SELECT id, type_name FROM artifact_sequences WHERE project_id = ? AND name = ?",
        (project_db_id, name),
    ).fetchone()
    if row is not None:
        if row["type_name"] != type_name:
            raise BadInput(
                f"artifact collection {name!r} has type {row['type_name']!r}, not {type_name!r}"
            )
        existing: int = row["id"]
        return existing
    cursor = conn.execute(
        "INSERT INTO artifact_sequences (project_id, name, type_name, created_at)"
        " VALUES (?, ?, ?, ?)",
        (project_db_id, name, type_name, now),
    )
    return int(cursor.lastrowid or 0)


def _project_for_write(
    conn: sqlite3.Connection, user: AuthUser, entity: str, name: str, now: str
) -> int:
    if entity != user.entity:
        raise BadInput(f"entity {entity!r} not found")
    if not name or any(c in name for c in "/\\#?%:"):
        raise BadInput(f"invalid project name {name!r}")
    project = find_project(conn, user, entity, name)
    if project is not None:
        found: int = project["id"]
        return found
    cursor = conn.execute(
        "INSERT INTO projects (entity, name, created_at) VALUES (?, ?, ?)", (entity, name, now)
    )
    return int(cursor.lastrowid or 0)


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
        existing = conn.execute(
            "SELECT id, state, aliases_pending FROM artifacts WHERE sequence_id = ? AND digest = ?",
            (sequence_id, digest),
        ).fetchone()
        if existing is not None and existing["state"] == "COMMITTED":
            # Digest deduplication: the committed version is returned and the client stops.
            artifact_db_id: int = existing["id"]
            conn.execute("UPDATE artifacts SET updated_at = ? WHERE id = ?", (now, artifact_db_id))
            newest = _is_newest_committed(conn, sequence_id, artifact_db_id)
            for alias in aliases:
                if alias != LATEST or newest:
                    set_alias(conn, sequence_id, artifact_db_id, alias)
        elif existing is not None:
            artifact_db_id = existing["id"]
            pending = json.loads(existing["aliases_pending"] or "[]")
            pending += [alias for alias in aliases if alias not in pending]
            conn.execute(
                "UPDATE artifacts SET updated_at = ?, aliases_pending = ? WHERE id = ?",
                (now, json.dumps(pending), artifact_db_id),
            )
        else:
            (next_index,) = conn.execute(
                "UPDATE artifact_sequences SET next_version = next_version + 1 WHERE id = ?"
                " RETURNING next_version - 1",
                (sequence_id,),
            ).fetchone()
            cursor = conn.execute(
                "INSERT INTO artifacts (sequence_id, version_index, digest, description, metadata,"
                " state, history_step, ttl_seconds, created_by_run_id, digest_algorithm,"
                " client_id, aliases_pending, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sequence_id,
                    next_index,
                    digest,
                    input.get("description"),
                    json.dumps(metadata) if metadata is not None else None,
                    input.get("historyStep"),
                    -1 if ttl is None else ttl,
                    run_db_id,
                    input["digestAlgorithm"],
                    input.get("clientID"),
                    json.dumps(aliases),
                    now,
                    now,
                ),
            )
            artifact_db_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO artifact_tags (artifact_id, name) VALUES (?, ?)"
            " ON CONFLICT (artifact_id, name) DO NOTHING",
            [(artifact_db_id, tag) for tag in tags],
        )
        artifact = artifact_by_id(conn, artifact_db_id)
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


BINDABLES: list[SchemaBindable] = [
    artifact_type,
    sequence_type,
    collection_interface,
    project_type,
    run_type,
    mutation,
]
