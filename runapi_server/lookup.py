"""Finding projects and runs as the caller may see them (their rows come from
:mod:`runapi_server.storage.runs`), and W&B's opaque run ids.

A user reaches only their own entity: anything else reads as missing (None), exactly as
if it did not exist. Resolvers receive these rows as parent objects: a project row has
the ``projects`` columns; a run row has the ``runs`` columns plus ``project_name`` and
``entity``.
"""

from __future__ import annotations

import base64

from runapi_server.auth import AuthUser
from runapi_server.signing import RunGrant
from runapi_server.storage import runs as stored_runs
from runapi_server.storage.connection import Connection, Row


def storage_id(run_name: str, project: str, entity: str) -> str:
    """W&B's opaque run id: base64 of ``Run:v1:<run_id>:<project>:<entity>``."""
    return base64.b64encode(f"Run:v1:{run_name}:{project}:{entity}".encode()).decode()


def parse_storage_id(value: str) -> tuple[str, str, str] | None:
    """``(run_name, project, entity)`` from a storage id, or None when it is not one."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    parts = decoded.split(":")
    if len(parts) != 5 or parts[0] != "Run" or parts[1] != "v1":
        return None
    return parts[2], parts[3], parts[4]


def find_project(
    conn: Connection, user: AuthUser, entity: str | None, name: str | None
) -> Row | None:
    entity = entity or user.entity
    if entity != user.entity or not name:
        return None
    return stored_runs.project_by_name(conn, entity, name)


def find_run(
    conn: Connection, user: AuthUser, entity: str, project: str, run_name: str
) -> Row | None:
    if entity != user.entity:
        return None
    return stored_runs.run_by_path(conn, entity, project, run_name)


def run_for_grant(conn: Connection, grant: RunGrant) -> Row | None:
    """The run a signed URL names, or None when it was deleted since the URL was signed."""
    row = stored_runs.run_by_path(conn, grant.entity, grant.project, grant.run)
    return row if grant.matches(row) else None


def find_run_by_storage_id(conn: Connection, user: AuthUser, value: str) -> Row | None:
    parsed = parse_storage_id(value)
    if parsed is None:
        return None
    run_name, project, entity = parsed
    return find_run(conn, user, entity, project, run_name)
