"""``Run`` fields (all but history and files) and ``Project.runs/runCount``; the run
mutations are in :mod:`runapi_server.resolvers.run_writes`.

A ``Run`` parent object is a run row of :mod:`runapi_server.storage.runs`: the ``runs``
columns plus ``project_name`` and ``entity``; a run listed by ``Project.runs`` is that row
as a dict, with its project and user rows under :data:`PROJECT_KEY` / :data:`USER_KEY`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from ariadne import MutationType, ObjectType
from ariadne.types import SchemaBindable
from graphql import FieldNode, FragmentSpreadNode, GraphQLResolveInfo

from runapi_server.connections import window, window_page
from runapi_server.context import context_of
from runapi_server.fast_execution import needs_no_info
from runapi_server.filters import (
    Predicate,
    RunRecord,
    compile_filter,
    json_columns,
    matches_everything,
    name_candidates,
    referenced_fields,
)
from runapi_server.lookup import storage_id as make_storage_id
from runapi_server.ordering import Order, parse_order, sorter
from runapi_server.resolvers.columns import bind_columns
from runapi_server.storage import runs as stored_runs
from runapi_server.storage import users as stored_users
from runapi_server.storage.connection import Connection, Row

run_type = ObjectType("Run")
project_type = ObjectType("Project")
mutation = MutationType()

PROJECT_KEY: Final = "_project"
USER_KEY: Final = "_user"
"""Keys of a listed run's node (a dict) holding its already-fetched project and user rows."""

# --------------------------------------------------------------------------- helpers


def _decoded_object(text: str | None) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


def _only_keys(obj: dict[str, Any], keys: list[str] | None) -> dict[str, Any]:
    return obj if keys is None else {k: obj[k] for k in keys if k in obj}


def _keyed_json(text: str | None, keys: list[str] | None) -> str:
    """Stored JSON object text, cut down to ``keys`` when given (stored text as is otherwise)."""
    if keys is None:
        return text or "{}"
    return json.dumps(_only_keys(_decoded_object(text), keys))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --------------------------------------------------------------------------- Run fields


@run_type.field("id")
def resolve_run_id(obj: Row, _info: GraphQLResolveInfo) -> str:
    return make_storage_id(obj["name"], obj["project_name"], obj["entity"])


_COLUMN_FIELDS: Final = {
    "name": "name",
    "displayName": "display_name",
    "description": "description",
    "notes": "notes",
    "state": "state",
    "group": "group_name",
    "jobType": "job_type",
    "commit": "commit_hash",
    "host": "host",
    "sweepName": "sweep_name",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "heartbeatAt": "heartbeat_at",
    "projectId": "project_id",
}


bind_columns(run_type, _COLUMN_FIELDS)


@lru_cache(maxsize=4096)
def _tags(text: str) -> tuple[str, ...]:
    """The tags of a stored ``tags`` text (most runs of a project share a few texts)."""
    tags = json.loads(text)
    return tuple(str(t) for t in tags) if isinstance(tags, list) else ()


@run_type.field("tags")
@needs_no_info
def resolve_run_tags(obj: Row, _info: GraphQLResolveInfo | None) -> list[str]:
    return list(_tags(obj["tags"] or "[]"))


@run_type.field("readOnly")
def resolve_run_read_only(_obj: Row, _info: GraphQLResolveInfo) -> bool:
    return False


@run_type.field("computeSeconds")
def resolve_run_compute_seconds(obj: Row, _info: GraphQLResolveInfo) -> int:
    elapsed = _parse_time(obj["heartbeat_at"]) - _parse_time(obj["created_at"])
    return max(0, int(elapsed.total_seconds()))


@run_type.field("project")
def resolve_run_project(obj: Row | dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if isinstance(obj, dict) and PROJECT_KEY in obj:  # a listed run: fetched with its page
        return obj[PROJECT_KEY]
    return stored_runs.project_by_id(context_of(info).state.db.read(), obj["project_id"])


@run_type.field("user")
def resolve_run_user(obj: Row | dict[str, Any], info: GraphQLResolveInfo) -> Any:
    if isinstance(obj, dict) and USER_KEY in obj:
        return obj[USER_KEY]
    return stored_users.user_by_id(context_of(info).state.db.read(), obj["user_id"])


@run_type.field("sweep")
def resolve_run_sweep(_obj: Row, _info: GraphQLResolveInfo) -> None:
    return None  # sweeps are not stored: none exists


@run_type.field("config")
def resolve_run_config(obj: Row, info: GraphQLResolveInfo, keys: list[str] | None = None) -> str:
    return _charged(info, _keyed_json(obj["config"], keys), "config")


def _charged(info: GraphQLResolveInfo, text: str, what: str) -> str:
    context_of(info).budget.charge(len(text), what)
    return text


@run_type.field("summaryMetrics")
def resolve_run_summary(
    obj: Row,
    info: GraphQLResolveInfo,
    keys: list[str] | None = None,
    packVersion: int | None = None,
) -> str:
    return _charged(info, _keyed_json(obj["summary"], keys), "summaryMetrics")


@run_type.field("systemMetrics")
def resolve_run_system_metrics(obj: Row, info: GraphQLResolveInfo) -> str:
    return _charged(info, obj["system_metrics"], "systemMetrics")


@run_type.field("wandbConfig")
def resolve_run_wandb_config(
    obj: Row, info: GraphQLResolveInfo, keys: list[str] | None = None
) -> str:
    entry = _decoded_object(obj["config"]).get("_wandb")
    value = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
    text = json.dumps(_only_keys(value if isinstance(value, dict) else {}, keys))
    return _charged(info, text, "wandbConfig")


# --------------------------------------------------------------------------- Project.runs
#
# A page costs O(page) decoding and two or three small queries, not a decode of every run
# of the project: with no filter and a column order, SQL orders, counts and windows the
# runs itself (``ORDER BY <column>, id LIMIT/OFFSET`` over the ``runs_project_created``
# index for the default order). Otherwise the filter and order run in Python over a light
# selection (the id, the scalar columns, and only those JSON columns the filter or order
# reads), and the full rows are fetched for the page's runs alone. Either way the cursors
# are the positions in the ordered list, so both paths page identically.


@dataclass(frozen=True)
class _RunQuery:
    """A parsed ``runs``/``runCount`` request: its filter and order."""

    filters: Any
    matches: Predicate
    order: Order

    @classmethod
    def parse(cls, filters: Any, order: str | None) -> _RunQuery:
        return cls(filters=filters, matches=compile_filter(filters), order=parse_order(order))

    @property
    def in_sql(self) -> bool:
        """Whether SQL alone can select and order the runs (no filter, a column order)."""
        return matches_everything(self.filters) and self.order.column is not None


def _light_records(conn: Connection, project_db_id: int, query: _RunQuery) -> list[RunRecord]:
    """The project's runs matching the filter, in order: light rows (no unused JSON)."""
    names = referenced_fields(query.filters) | {query.order.field.name}
    rows = stored_runs.light_runs(
        conn,
        project_db_id,
        json_columns=json_columns(names),
        # narrowed in SQL; the filter below still decides
        names=name_candidates(query.filters),
    )
    return sorter(query.order)([r for r in map(RunRecord, rows) if query.matches(r)])


def _window_ids(
    conn: Connection, project_db_id: int, order: Order, start: int, end: int
) -> list[int]:
    assert order.column is not None
    return stored_runs.ordered_run_ids(
        conn,
        project_db_id,
        column=order.column,
        descending=order.descending,
        offset=start,
        limit=end - start,
    )


NAME_ONLY_FIELDS: Final = frozenset({"name", "__typename"})
"""Node fields a run listing answers from the run names alone (``ListRunNames``)."""


def _selections(selection_set: Any, fragments: dict[str, Any]) -> list[FieldNode] | None:
    """The fields of a selection set, fragments spread; None when a directive may skip
    or include some (then the caller assumes every field is needed)."""
    if selection_set is None:
        return []
    fields: list[FieldNode] = []
    for selection in selection_set.selections:
        if selection.directives:
            return None
        if isinstance(selection, FieldNode):
            fields.append(selection)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            inner = None if fragment is None else _selections(fragment.selection_set, fragments)
        else:
            inner = _selections(selection.selection_set, fragments)
        if inner is None:
            return None
        fields += inner
    return fields


def _node_fields(info: GraphQLResolveInfo) -> set[str] | None:
    """The names of the fields selected on ``runs.edges.node`` (None: not known)."""
    names: set[str] = set()
    for runs in info.field_nodes:
        edges = _selections(runs.selection_set, info.fragments)
        if edges is None or runs.directives:
            return None
        for edge in (field for field in edges if field.name.value == "edges"):
            nodes = _selections(edge.selection_set, info.fragments)
            if nodes is None:
                return None
            for node in (field for field in nodes if field.name.value == "node"):
                selected = _selections(node.selection_set, info.fragments)
                if selected is None:
                    return None
                names.update(field.name.value for field in selected)
    return names


def _name_nodes(conn: Connection, run_ids: list[int]) -> list[dict[str, Any]]:
    """Nodes of ``run_ids`` in that order holding only id and name."""
    names = {row["id"]: row["name"] for row in stored_runs.run_names_by_ids(conn, run_ids)}
    return [{"id": i, "name": names[i]} for i in run_ids if i in names]


def _nodes(conn: Connection, project: Row, run_ids: list[int]) -> list[dict[str, Any]]:
    """The full rows of ``run_ids`` in that order, as nodes carrying project and user rows."""
    by_id = {row["id"]: row for row in stored_runs.runs_by_ids(conn, run_ids)}
    user_ids = sorted({row["user_id"] for row in by_id.values()})
    users = {row["id"]: row for row in stored_users.users_by_ids(conn, user_ids)}
    nodes = []
    for run_id in run_ids:
        if run_id not in by_id:
            continue
        node: dict[str, Any] = dict(by_id[run_id])
        node[PROJECT_KEY] = project
        node[USER_KEY] = users.get(node["user_id"])
        nodes.append(node)
    return nodes


@project_type.field("runs")
def resolve_project_runs(
    obj: Row,
    info: GraphQLResolveInfo,
    filters: Any = None,
    order: str | None = None,
    after: str | None = None,
    before: str | None = None,
    first: int | None = None,
    last: int | None = None,
) -> dict[str, Any]:
    ctx = context_of(info)
    ctx.state.limits.check_page_size(first, last)
    query = _RunQuery.parse(filters, order)
    conn = ctx.state.db.read()
    if query.in_sql:
        total = stored_runs.count_runs(conn, obj["id"])
        start, end = window(total, "runs", first=first, after=after, last=last, before=before)
        run_ids = _window_ids(conn, obj["id"], query.order, start, end)
        if len(run_ids) != end - start:  # runs were deleted between the two statements
            total = start + len(run_ids)
    else:
        records = _light_records(conn, obj["id"], query)
        total = len(records)
        start, end = window(total, "runs", first=first, after=after, last=last, before=before)
        run_ids = [int(record.row["id"]) for record in records[start:end]]
    fields = _node_fields(info)
    if fields is not None and not fields:  # cursors (or counts) only: no run is read
        nodes = [{"id": run_id} for run_id in run_ids]
    elif fields is not None and fields <= NAME_ONLY_FIELDS:  # names only: no JSON columns
        nodes = _name_nodes(conn, run_ids)
    else:
        nodes = _nodes(conn, obj, run_ids)  # fewer when runs were deleted meanwhile
    page = window_page(nodes, "runs", start, start + len(nodes), total)
    return {
        "edges": [{"node": node, "cursor": cursor} for node, cursor in page.edges],
        "pageInfo": page.page_info,
        "totalCount": page.total,
    }


@project_type.field("runCount")
def resolve_project_run_count(obj: Row, info: GraphQLResolveInfo, filters: Any = None) -> int:
    conn = context_of(info).state.db.read()
    if matches_everything(filters):
        return stored_runs.count_runs(conn, obj["id"])
    matches = compile_filter(filters)
    rows = stored_runs.light_runs(
        conn, obj["id"], json_columns=json_columns(referenced_fields(filters))
    )
    return sum(1 for row in rows if matches(RunRecord(row)))


BINDABLES: list[SchemaBindable] = [run_type, project_type]
