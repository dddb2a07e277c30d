"""Runs-table pages (`Runs.to_pandas`): one `ListRunsTable` answer decoded straight to
table columns (or records), without pydantic models per run, and the frame of the pages;
the pages of run cursors (`ListRunCursors`) the table's concurrent pages start after; and
the pages of run names and cursors (`ListRunNames`) `Runs.histories` lists runs by.

The answer is decoded by `GraphQL.data` (orjson when installed); the shape each record
needs is checked here (a wrong shape is a `ResponseValidationError`, as from the models),
and every run's `config` and `summaryMetrics` JSONStrings of a page are decoded in one
call (`loads_objects`). `createdAt` goes through pydantic's own `datetime` parsing, one
call per page, so the values are the models'.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from ._exceptions import ResponseValidationError
from ._json import flatten_into, loads_objects
from ._run_fields import HIDDEN_CONFIG_KEYS, config_value

if TYPE_CHECKING:
    import pandas
    from pydantic import TypeAdapter

WHAT = "GraphQL ListRunsTable"


@dataclass(frozen=True)
class TablePage:
    """One page of the runs table and where the listing goes on.

    The rows are `columns` (name -> one value per run) when every run of the page has the
    same flat config and summary keys, the usual page of a sweep; else `records` (one
    dict per run, missing keys absent). `ids` are the page's run ids, in order.
    """

    ids: list[str]
    columns: dict[str, list[Any]] | None
    records: list[dict[str, Any]] | None
    end_cursor: str | None
    has_next_page: bool

    def __len__(self) -> int:
        return len(self.ids)

    def as_records(self) -> list[dict[str, Any]]:
        """The page's rows as one dict per run."""
        if self.columns is None:
            return self.records or []
        names = list(self.columns)
        rows = zip(*self.columns.values(), strict=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def without(self, seen: set[str]) -> TablePage:
        """The page without the runs whose ids are in `seen` (read on an earlier page)."""
        keep = [i for i, name in enumerate(self.ids) if name not in seen]
        if len(keep) == len(self.ids):
            return self
        ids = [self.ids[i] for i in keep]
        if self.columns is not None:
            columns = {name: [values[i] for i in keep] for name, values in self.columns.items()}
            return TablePage(ids, columns, None, self.end_cursor, self.has_next_page)
        records = [(self.records or [])[i] for i in keep]
        return TablePage(ids, None, records, self.end_cursor, self.has_next_page)


class NameEdge(NamedTuple):
    """A run id and its cursor in a listing."""

    name: str
    cursor: str


class CursorEdge(NamedTuple):
    """A run's cursor in a listing (no run field)."""

    cursor: str


E = TypeVar("E", NameEdge, CursorEdge)


@dataclass(frozen=True)
class ListingPage(Generic[E]):
    """One page of a lean run listing: names and cursors (`ListRunNames`) or cursors only
    (`ListRunCursors`)."""

    edges: list[E]
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


def names_page(runs: Any) -> ListingPage[NameEdge]:
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
    return ListingPage(found, end_cursor, has_next)


def _unwrapped(column: tuple[Any, ...]) -> list[Any]:
    """`config_value` of each stored config entry of a column (`{"value": v}` -> `v`)."""
    if set(map(type, column)) == {dict} and all(map(operator.contains, column, repeat("value"))):
        return list(map(operator.itemgetter("value"), column))
    return [config_value(entry) for entry in column]


def _uniform_columns(
    objects: list[dict[str, Any]], prefix: str, *, config: bool
) -> dict[str, list[Any]] | None:
    """`prefix + key` -> one value per object, when every object has the same keys in the
    same order and no value (a config entry's unwrapped) is a dict; else None (the page
    is built as records, which flatten nested values). Hidden config keys are left out."""
    if len(set(map(tuple, objects))) > 1:
        return None
    keys = tuple(objects[0]) if objects else ()
    columns: dict[str, list[Any]] = {}
    for key, column in zip(keys, zip(*map(dict.values, objects), strict=True), strict=True):
        if config and key in HIDDEN_CONFIG_KEYS:
            continue
        values = _unwrapped(column) if config else list(column)
        if dict in set(map(type, values)):
            return None
        columns[prefix + key] = values
    return columns


def _records(
    base: dict[str, list[Any]], configs: list[dict[str, Any]], summaries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One dict per run: the `base` columns' values, then the flattened config and summary."""
    names = list(base)
    records: list[dict[str, Any]] = []
    hidden = HIDDEN_CONFIG_KEYS
    rows = zip(*base.values(), strict=True)
    for row, config, summary in zip(rows, configs, summaries, strict=True):
        record = dict(zip(names, row, strict=True))
        _spread(
            record,
            {
                "config." + key: config_value(entry)
                for key, entry in config.items()
                if key not in hidden
            },
        )
        _spread(record, {"summary." + key: value for key, value in summary.items()})
        records.append(record)
    return records


def cursors_page(runs: Any) -> ListingPage[CursorEdge]:
    """The edge cursors of a `project.runs` answer of `ListRunCursors`."""
    what = "GraphQL ListRunCursors"
    edges, end_cursor, has_next = _connection(runs, what)
    cursors: list[Any] = [edge.get("cursor") if isinstance(edge, dict) else None for edge in edges]
    if set(map(type, cursors)) - {str}:
        raise _bad("an edge without a cursor", what)
    return ListingPage(list(map(CursorEdge, cursors)), end_cursor, has_next)


def table_page(runs: Any) -> TablePage:
    """The rows of a `project.runs` answer of `ListRunsTable` (see the module doc)."""
    edges, end_cursor, has_next = _connection(runs, WHAT)
    nodes = [edge.get("node") if isinstance(edge, dict) else None for edge in edges]
    ids: list[str] = []
    names: list[str] = []
    states: list[str] = []
    tag_lists: list[list[Any]] = []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str):
            raise _bad("a run node without a name")
        name: str = node["name"]
        ids.append(name)
        names.append(_optional(node, "displayName", str) or name)
        states.append(_optional(node, "state", str) or "unknown")
        tag_lists.append(list(_optional(node, "tags", list) or []))
    if set(map(type, chain.from_iterable(tag_lists))) - {str}:
        bad = next(tags for tags in tag_lists if set(map(type, tags)) - {str})
        raise _bad(f"tags is not a list of str: {bad!r}")
    checked: list[dict[str, Any]] = nodes  # type: ignore[assignment]  # checked above
    created: list[Any] = []
    configs: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    if checked:
        from pydantic import ValidationError

        try:
            created = _datetimes().validate_python([node.get("createdAt") for node in checked])
        except ValidationError as exc:
            raise _bad(f"createdAt: {exc}") from exc
        configs = loads_objects([_optional(n, "config", str) for n in checked], "run config")
        summaries = loads_objects(
            [_optional(n, "summaryMetrics", str) for n in checked], "run summary"
        )
    base: dict[str, list[Any]] = {
        "id": ids,
        "name": names,
        "state": states,
        "created_at": created,
        "tags": tag_lists,
    }
    config_columns = _uniform_columns(configs, "config.", config=True)
    summary_columns = (
        None if config_columns is None else _uniform_columns(summaries, "summary.", config=False)
    )
    if config_columns is not None and summary_columns is not None:
        return TablePage(
            ids, {**base, **config_columns, **summary_columns}, None, end_cursor, has_next
        )
    return TablePage(ids, None, _records(base, configs, summaries), end_cursor, has_next)


def table_frame(pages: list[TablePage], empty_columns: list[str]) -> pandas.DataFrame:
    """The runs table of `pages`, in order: built from columns when every page has the
    same columns (no dict per run), else from records (missing keys become NaN); a table
    without runs has `empty_columns`."""
    import pandas

    filled = [page for page in pages if len(page)]
    first = filled[0].columns if filled else None
    if first is not None and all(page.columns is not None for page in filled):
        names = list(first)
        if all(list(page.columns or ()) == names for page in filled):
            data = {
                name: list(chain.from_iterable((page.columns or {})[name] for page in filled))
                for name in names
            }
            return pandas.DataFrame(data, columns=names)
    records = list(chain.from_iterable(page.as_records() for page in filled))
    return pandas.DataFrame.from_records(records, columns=None if records else empty_columns)
