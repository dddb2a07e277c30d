"""Runs-table pages (`Runs.to_pandas`): one `ListRunsTable` answer decoded straight to
table records, without pydantic models per run; and the pages of run names and cursors
(`ListRunNames`) the table and `Runs.histories` list runs by.

The answer is decoded by `GraphQL.data` (orjson when installed); the shape each record
needs is checked here (a wrong shape is a `ResponseValidationError`, as from the models),
and every run's `config` and `summaryMetrics` JSONStrings of a page are decoded in one
call (`loads_objects`). `createdAt` goes through pydantic's own `datetime` parsing, one
call per page, so the values are the models'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

from ._exceptions import ResponseValidationError
from ._json import flatten_into, loads_objects
from ._run_fields import HIDDEN_CONFIG_KEYS, config_value

if TYPE_CHECKING:
    from pydantic import TypeAdapter

WHAT = "GraphQL ListRunsTable"


@dataclass(frozen=True)
class TablePage:
    """One page of runs-table records and where the listing goes on."""

    records: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


class NameEdge(NamedTuple):
    """A run id and its cursor in a listing."""

    name: str
    cursor: str


@dataclass(frozen=True)
class NamesPage:
    """One page of a run names listing (`ListRunNames`)."""

    edges: list[NameEdge]
    end_cursor: str | None
    has_next_page: bool


@cache
def _datetimes() -> TypeAdapter[list[datetime]]:
    from pydantic import TypeAdapter

    return TypeAdapter(list[datetime])


def _bad(detail: str, what: str = WHAT) -> ResponseValidationError:
    return ResponseValidationError(f"{what}: unexpected response shape: {detail}")


def _optional(node: dict[str, Any], field: str, kind: type) -> Any:
    value = node.get(field)
    if value is not None and not isinstance(value, kind):
        raise _bad(f"{field} is not a {kind.__name__} or null: {value!r}")
    return value


def _spread(record: dict[str, Any], values: dict[str, Any]) -> None:
    """`flatten_into(record, name, value)` for each of `values`, in order: one update
    when none is a dict (the usual flat config or summary)."""
    if dict in set(map(type, values.values())):
        for name, value in values.items():
            flatten_into(record, name, value)
    else:
        record.update(values)


def _connection(runs: Any, what: str) -> tuple[list[Any], str | None, bool]:
    """The edges, end cursor and hasNextPage of a `runs` connection answer."""
    if not isinstance(runs, dict):
        raise _bad("runs is not an object", what)
    edges, info = runs.get("edges"), runs.get("pageInfo")
    if not isinstance(edges, list) or not isinstance(info, dict):
        raise _bad("runs.edges is not a list or runs.pageInfo is missing", what)
    end_cursor, has_next = info.get("endCursor"), info.get("hasNextPage")
    if (end_cursor is not None and not isinstance(end_cursor, str)) or type(has_next) is not bool:
        raise _bad(f"pageInfo is not {{endCursor, hasNextPage}}: {info!r}", what)
    return edges, end_cursor, has_next


def names_page(runs: Any) -> NamesPage:
    """The (run id, cursor) edges of a `project.runs` answer of `ListRunNames`."""
    what = "GraphQL ListRunNames"
    edges, end_cursor, has_next = _connection(runs, what)
    found: list[NameEdge] = []
    for edge in edges:
        node = edge.get("node") if isinstance(edge, dict) else None
        name = node.get("name") if isinstance(node, dict) else None
        cursor = edge.get("cursor") if isinstance(edge, dict) else None
        if not isinstance(name, str) or not isinstance(cursor, str):
            raise _bad(f"an edge without a run name and a cursor: {edge!r}", what)
        found.append(NameEdge(name, cursor))
    return NamesPage(found, end_cursor, has_next)


def table_page(runs: Any) -> TablePage:
    """The records of a `project.runs` answer of `ListRunsTable` (see the module doc)."""
    edges, end_cursor, has_next = _connection(runs, WHAT)
    nodes = [edge.get("node") if isinstance(edge, dict) else None for edge in edges]
    records: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []
    tag_lists: list[list[Any]] = []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            raise _bad("a run node without a name")
        checked.append(node)
        tags = _optional(node, "tags", list) or []
        tag_lists.append(tags)
        display = _optional(node, "displayName", str)
        name: str = node["name"]
        records.append(
            {
                "id": name,
                "name": display or name,
                "state": _optional(node, "state", str) or "unknown",
                "created_at": node.get("createdAt"),
                "tags": list(tags),
            }
        )
    if set(map(type, chain.from_iterable(tag_lists))) - {str}:
        bad = next(tags for tags in tag_lists if set(map(type, tags)) - {str})
        raise _bad(f"tags is not a list of str: {bad!r}")
    if checked:
        from pydantic import ValidationError

        try:
            created = _datetimes().validate_python([r["created_at"] for r in records])
        except ValidationError as exc:
            raise _bad(f"createdAt: {exc}") from exc
        configs = loads_objects([_optional(n, "config", str) for n in checked], "run config")
        summaries = loads_objects(
            [_optional(n, "summaryMetrics", str) for n in checked], "run summary"
        )
        hidden = HIDDEN_CONFIG_KEYS
        for record, when, config, summary in zip(records, created, configs, summaries, strict=True):
            record["created_at"] = when
            _spread(
                record,
                {
                    "config." + key: config_value(entry)
                    for key, entry in config.items()
                    if key not in hidden
                },
            )
            _spread(record, {"summary." + key: value for key, value in summary.items()})
    return TablePage(records, end_cursor, has_next)
