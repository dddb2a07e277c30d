"""The run mutations: ``upsertBucket`` (create or update a run, its project with it) and
``deleteRun`` (with the artifacts only it logged, when asked). Each is one transaction."""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any, Final

from ariadne import MutationType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server import artifact_store, signing
from runapi_server.auth import AuthUser
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.lookup import find_run, find_run_by_storage_id
from runapi_server.runfiles import remove_run_files
from runapi_server.storage import artifact_blobs
from runapi_server.storage import runs as stored_runs
from runapi_server.storage.connection import Connection, Row
from runapi_server.timeutil import now_iso

mutation = MutationType()

RUN_STATES: Final = frozenset(
    {"running", "pending", "finished", "failed", "crashed", "killed", "preempted", "preempting"}
)
DEFAULT_PROJECT: Final = "uncategorized"
NAME_RE: Final = re.compile(r"^[^/\\#?%:\s\x00-\x1f\x7f][^/\\#?%:\x00-\x1f\x7f]{0,127}$")
RUN_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
ADJECTIVES: Final = (
    "amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "deft", "eager", "fair",
    "fresh", "gentle", "golden", "hardy", "keen", "lively", "lucid", "merry", "noble", "quiet",
    "rapid", "royal", "silent", "smart", "solar", "stellar", "swift", "vivid", "warm", "wise",
)  # fmt: skip
NOUNS: Final = (
    "brook", "cloud", "comet", "dawn", "dream", "dust", "field", "fire", "forest", "frost",
    "glade", "grove", "haze", "hill", "lake", "leaf", "meadow", "moon", "night", "ocean",
    "pine", "rain", "river", "sea", "sky", "snow", "star", "storm", "sun", "wave",
)  # fmt: skip


# --------------------------------------------------------------------------- upsertBucket


def _check_name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise BadInput(
            f"invalid {kind} {value!r}: use 1-128 characters, none of / \\ # ? % : or control"
            " characters, and no leading whitespace"
        )
    return value


def _wrap_config(config: Any) -> str:
    """The config JSON text to store: every entry wrapped as ``{"value": v, "desc": d}``."""
    if not isinstance(config, dict):
        raise BadInput("config must be a JSON object of {key: {value, desc}}")
    wrapped = {
        key: entry
        if isinstance(entry, dict) and "value" in entry
        else {"value": entry, "desc": None}
        for key, entry in config.items()
    }
    return json.dumps(wrapped)


def _summary_text(summary: Any) -> str:
    if not isinstance(summary, dict):
        raise BadInput("summaryMetrics must be a JSON object")
    return json.dumps(summary)


def _tags_text(tags: Any) -> str:
    """The tags as a JSON list, duplicates dropped (first kept), in linear time."""
    return json.dumps(list(dict.fromkeys(tags)))


def _state(value: Any) -> str:
    if value not in RUN_STATES:
        raise BadInput(f"invalid run state {value!r}; one of: {', '.join(sorted(RUN_STATES))}")
    state: str = value
    return state


# input field -> (column, converter); None values in the input leave the column unchanged.
_UPDATABLE: Final[dict[str, tuple[str, Any]]] = {
    "displayName": ("display_name", str),
    "description": ("description", str),
    "notes": ("notes", str),
    "groupName": ("group_name", str),
    "jobType": ("job_type", str),
    "commit": ("commit_hash", str),
    "host": ("host", str),
    "jobProgram": ("program", str),
    "sweep": ("sweep_name", str),
    "state": ("state", _state),
    "tags": ("tags", _tags_text),
    "config": ("config", _wrap_config),
    "summaryMetrics": ("summary", _summary_text),
}


def _new_run_id(conn: Connection, project_db_id: int) -> str:
    while True:
        candidate = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(8))
        if not stored_runs.run_name_taken(conn, project_db_id, candidate):
            return candidate


def _new_display_name(conn: Connection, project_db_id: int) -> str:
    count = stored_runs.count_runs(conn, project_db_id)
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{count + 1}"


def _select_or_create(
    conn: Connection, user: AuthUser, data: dict[str, Any], now: str
) -> tuple[Row, bool]:
    """The run ``data`` selects, created (with its project) when missing."""
    if data.get("id") is not None:
        run = find_run_by_storage_id(conn, user, data["id"])
        if run is None:
            raise BadInput(f"run with id {data['id']!r} not found")
        return run, False
    entity = data.get("entityName") or user.entity
    if entity != user.entity:
        raise BadInput(f"entity {entity!r} not found")
    project = _check_name("project name", data.get("modelName") or DEFAULT_PROJECT)
    name = data.get("name")
    if name is not None:
        _check_name("run id", name)
        run = find_run(conn, user, entity, project, name)
        if run is not None:
            return run, False
    project_db_id = stored_runs.ensure_project(conn, entity, project, now)
    if name is None:
        name = _new_run_id(conn, project_db_id)
    run_db_id = stored_runs.insert_run(
        conn,
        project_db_id=project_db_id,
        name=name,
        user_id=user.id,
        display_name=_new_display_name(conn, project_db_id),
        now=now,
        url_key=signing.new_run_key(),
    )
    run = stored_runs.run_by_id(conn, run_db_id)
    assert run is not None
    return run, True


@mutation.field("upsertBucket")
def resolve_upsert_bucket(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    now = now_iso()
    updates: dict[str, Any] = {}
    for field, (column, convert) in _UPDATABLE.items():
        if input.get(field) is not None:
            updates[column] = convert(input[field])
    with ctx.state.db.transaction() as conn:
        run, inserted = _select_or_create(conn, ctx.user, input, now)
        updates["updated_at"] = now
        updates["heartbeat_at"] = now
        stored_runs.update_run(conn, run["id"], updates)
        bucket = stored_runs.run_by_id(conn, run["id"])
    return {
        "bucket": bucket,
        "inserted": inserted,
        "clientMutationId": input.get("clientMutationId"),
    }


# --------------------------------------------------------------------------- deleteRun


@mutation.field("deleteRun")
def resolve_delete_run(
    _obj: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    freed: list[str] = []
    with ctx.state.db.transaction() as conn:
        run = find_run_by_storage_id(conn, ctx.user, input["id"])
        if run is None:
            raise BadInput(f"run with id {input['id']!r} not found")
        with_artifacts = bool(input.get("deleteArtifacts"))
        stored_runs.delete_run(conn, run["id"], with_artifacts=with_artifacts)
        if with_artifacts:  # blobs only the deleted versions held
            freed = artifact_blobs.free_unreferenced_blobs(conn, ctx.user.entity)
    # Uploaded bytes live outside the database: removed once the deletion is committed.
    remove_run_files(ctx.state.store, run["id"])
    artifact_store.remove_blob_files(ctx.state.store, freed)
    return {"clientMutationId": input.get("clientMutationId")}


BINDABLES: list[SchemaBindable] = [mutation]
