"""Runs-table pages (`Runs.to_pandas`): one `ListRunsTable` answer decoded straight to
table records, without pydantic models per run.

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
from typing import TYPE_CHECKING, Any

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


@cache
def _datetimes() -> TypeAdapter[list[datetime]]:
    from pydantic import TypeAdapter

    return TypeAdapter(list[datetime])


def _bad(detail: str) -> ResponseValidationError:
    return ResponseValidationError(f"{WHAT}: unexpected response shape: {detail}")


def _optional(node: dict[str, Any], field: str, kind: type) -> Any:
    value = node.get(field)
    if value is not None and not isinstance(value, kind):
        raise _bad(f"{field} is not a {kind.__name__} or null: {value!r}")
    return value


def table_page(runs: Any) -> TablePage:
    """The records of a `project.runs` answer of `ListRunsTable` (see the module doc)."""
    if not isinstance(runs, dict):
        raise _bad("runs is not an object")
    edges, info = runs.get("edges"), runs.get("pageInfo")
    if not isinstance(edges, list) or not isinstance(info, dict):
        raise _bad("runs.edges is not a list or runs.pageInfo is missing")
    end_cursor, has_next = info.get("endCursor"), info.get("hasNextPage")
    if (end_cursor is not None and not isinstance(end_cursor, str)) or type(has_next) is not bool:
        raise _bad(f"pageInfo is not {{endCursor, hasNextPage}}: {info!r}")
    nodes = [edge.get("node") if isinstance(edge, dict) else None for edge in edges]
    records: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            raise _bad("a run node without a name")
        checked.append(node)
        tags = _optional(node, "tags", list)
        if tags is not None and not all(isinstance(tag, str) for tag in tags):
            raise _bad(f"tags is not a list of str: {tags!r}")
        display = _optional(node, "displayName", str)
        name: str = node["name"]
        records.append(
            {
                "id": name,
                "name": display or name,
                "state": _optional(node, "state", str) or "unknown",
                "created_at": node.get("createdAt"),
                "tags": list(tags or []),
            }
        )
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
        for record, when, config, summary in zip(records, created, configs, summaries, strict=True):
            record["created_at"] = when
            for key, entry in config.items():
                if key not in HIDDEN_CONFIG_KEYS:
                    flatten_into(record, "config." + key, config_value(entry))
            for key, value in summary.items():
                flatten_into(record, "summary." + key, value)
    return TablePage(records, end_cursor, has_next)
