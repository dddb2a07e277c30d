"""Query root, the caller (``User``), ``Entity``, ``ServerInfo`` and ``Project``'s own fields.

Parent objects: a ``User`` or ``Entity`` is a ``users`` row (a user's entity has the user's
name); a ``Project`` is a ``projects`` row; ``ServerInfo`` is a plain dict.
"""

from __future__ import annotations

import base64
from importlib import metadata
from typing import Any, Final

from ariadne import ObjectType, QueryType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server.auth import fingerprint
from runapi_server.connections import paginate
from runapi_server.context import context_of
from runapi_server.lookup import find_project, find_run
from runapi_server.storage import users as stored_users
from runapi_server.storage.connection import Row

query = QueryType()
user_type = ObjectType("User")
entity_type = ObjectType("Entity")
project_type = ObjectType("Project")

CLI_VERSION_INFO: Final = {"max_cli_version": "0.31.0", "min_cli_version": "0.10.0"}


def opaque_id(*parts: object) -> str:
    """An opaque GraphQL id: base64 of the parts joined by ``:``."""
    return base64.b64encode(":".join(str(p) for p in parts).encode()).decode()


def project_id(row: Row) -> str:
    """``Project.id``: base64 of ``Project:v1:<name>:<entity>``."""
    return opaque_id("Project", "v1", row["name"], row["entity"])


def _version() -> str:
    try:
        return metadata.version("runapi")
    except metadata.PackageNotFoundError:
        return "0.0.0"


# --------------------------------------------------------------------------- Query


@query.field("viewer")
def resolve_viewer(_obj: Any, info: GraphQLResolveInfo, entityName: str | None = None) -> Any:
    ctx = context_of(info)
    return stored_users.user_by_id(ctx.state.db.read(), ctx.user.id)


@query.field("serverInfo")
def resolve_server_info(_obj: Any, _info: GraphQLResolveInfo) -> dict[str, Any]:
    version = _version()
    return {
        "cliVersionInfo": dict(CLI_VERSION_INFO),
        "latestLocalVersionInfo": {
            "outOfDate": False,
            "latestVersionString": version,
            "versionOnThisInstanceString": version,
        },
        # No optional W&B server feature is implemented, so none is reported enabled.
        "features": [],
    }


@query.field("project")
@query.field("model")
def resolve_project(
    _obj: Any, info: GraphQLResolveInfo, name: str | None = None, entityName: str | None = None
) -> Any:
    ctx = context_of(info)
    return find_project(ctx.state.db.read(), ctx.user, entityName, name)


@query.field("entity")
def resolve_entity(
    _obj: Any, info: GraphQLResolveInfo, name: str | None = None, login: bool | None = None
) -> Any:
    ctx = context_of(info)
    if name is not None and name != ctx.user.entity:
        return None
    return stored_users.user_by_id(ctx.state.db.read(), ctx.user.id)


# --------------------------------------------------------------------------- User / Entity


@user_type.field("id")
def resolve_user_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("User", obj["id"])


@user_type.field("name")
@user_type.field("username")
@user_type.field("entity")
def resolve_user_name(obj: Row, _info: GraphQLResolveInfo) -> str:
    name: str = obj["name"]
    return name


@user_type.field("email")
def resolve_user_email(obj: Row, _info: GraphQLResolveInfo) -> str | None:
    email: str | None = obj["email"]
    return email


@user_type.field("admin")
def resolve_user_admin(_obj: Row, _info: GraphQLResolveInfo) -> bool:
    return False


@user_type.field("flags")
def resolve_user_flags(_obj: Row, _info: GraphQLResolveInfo) -> str:
    return "{}"


@user_type.field("deletedAt")
@user_type.field("photoUrl")
def resolve_user_none(_obj: Row, _info: GraphQLResolveInfo) -> None:
    return None


@user_type.field("apiKeys")
def resolve_user_api_keys(obj: Row, info: GraphQLResolveInfo) -> dict[str, Any]:
    # Only the caller sees their keys, and only as fingerprints: secrets are not stored.
    ctx = context_of(info)
    if obj["id"] != ctx.user.id:
        return {"edges": []}
    rows = stored_users.api_keys_of(ctx.state.db.read(), obj["id"])
    return {
        "edges": [
            {
                "node": {
                    "id": opaque_id("ApiKey", row["key_hash"][:16]),
                    "name": fingerprint(row["key_hash"]),
                    "description": f"created {row['created_at']}",
                }
            }
            for row in rows
        ]
    }


@user_type.field("teams")
def resolve_user_teams(
    obj: Row, _info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    # A user belongs to exactly one entity here: their own.
    context_of(_info).state.limits.check_page_size(first, None)
    page = paginate([obj], "teams", first=first, after=after)
    return {"edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges]}


@entity_type.field("id")
def resolve_entity_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return opaque_id("Entity", obj["id"])


@entity_type.field("name")
def resolve_entity_name(obj: Row, _info: GraphQLResolveInfo) -> str:
    name: str = obj["name"]
    return name


@entity_type.field("isTeam")
def resolve_entity_is_team(_obj: Row, _info: GraphQLResolveInfo) -> bool:
    return False


@entity_type.field("project")
def resolve_entity_project(obj: Row, info: GraphQLResolveInfo, name: str | None = None) -> Any:
    ctx = context_of(info)
    return find_project(ctx.state.db.read(), ctx.user, obj["name"], name)


# --------------------------------------------------------------------------- Project


@project_type.field("id")
def resolve_project_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return project_id(obj)


@project_type.field("internalId")
def resolve_project_internal_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return str(obj["id"])


@project_type.field("name")
def resolve_project_name(obj: Row, _info: GraphQLResolveInfo) -> str:
    name: str = obj["name"]
    return name


@project_type.field("entityName")
def resolve_project_entity_name(obj: Row, _info: GraphQLResolveInfo) -> str:
    entity: str = obj["entity"]
    return entity


@project_type.field("entity")
@project_type.field("user")
def resolve_project_entity(obj: Row, info: GraphQLResolveInfo) -> Any:
    return stored_users.user_by_name(context_of(info).state.db.read(), obj["entity"])


@project_type.field("description")
def resolve_project_description(obj: Row, _info: GraphQLResolveInfo) -> str | None:
    description: str | None = obj["description"]
    return description


@project_type.field("createdAt")
def resolve_project_created_at(obj: Row, _info: GraphQLResolveInfo) -> str:
    created: str = obj["created_at"]
    return created


@project_type.field("isBenchmark")
@project_type.field("readOnly")
def resolve_project_false(_obj: Row, _info: GraphQLResolveInfo) -> bool:
    return False


@project_type.field("access")
def resolve_project_access(_obj: Row, _info: GraphQLResolveInfo) -> str:
    return "PRIVATE"


@project_type.field("views")
def resolve_project_views(_obj: Row, _info: GraphQLResolveInfo) -> str:
    return "{}"


@project_type.field("run")
def resolve_project_run(obj: Row, info: GraphQLResolveInfo, name: str) -> Any:
    ctx = context_of(info)
    return find_run(ctx.state.db.read(), ctx.user, obj["entity"], obj["name"], name)


@project_type.field("bucket")
def resolve_project_bucket(
    obj: Row,
    info: GraphQLResolveInfo,
    name: str,
    desc: str | None = None,
    missingOk: bool | None = None,
) -> Any:
    return resolve_project_run(obj, info, name)


@project_type.field("sweep")
def resolve_project_sweep(_obj: Row, _info: GraphQLResolveInfo, sweepName: str) -> None:
    return None  # sweeps are not stored: none exists


BINDABLES: list[SchemaBindable] = [query, user_type, entity_type, project_type]
