"""MongoDB-style run filters, compiled to Python over decoded run rows (the order of a
listing is in :mod:`runapi_server.ordering`).

Fields (WIRE.md): ``state``, ``tags``, ``name``, ``display_name``, ``group``, ``job_type``,
``created_at``, ``updated_at``, ``heartbeat_at`` (camelCase accepted too),
``config.<key>`` (nested keys dotted; ``config.<key>.value`` is the same value) and
``summary_metrics.<key>``. Operators: ``$and $or $nor $eq $ne $gt $gte $lt $lte $in $nin
$exists $regex`` (RE2 syntax, optional ``$options`` from ``ims``); a bare value means
``$eq``. On a list value (``tags``) operators apply element-wise. ``$and $or $nor`` nest at
most :data:`MAX_FILTER_DEPTH` deep. Anything else is :class:`BadInput`.

```python
matches = compile_filter({"$and": [{"config.lr": {"$gt": 0.01}}, {"state": "finished"}]})
runs = [r for r in records if matches(r)]
```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import re2

from runapi_server.errors import BadInput
from runapi_server.storage.connection import Row


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""The value of a field a run does not have (a NULL column, an absent key)."""


class RunRecord:
    """A run row with its JSON columns decoded on first use."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self._config: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._tags: list[Any] | None = None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = _decode_object(self.row["config"])
        return self._config

    @property
    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            self._summary = _decode_object(self.row["summary"])
        return self._summary

    @property
    def tags(self) -> list[Any]:
        if self._tags is None:
            value = json.loads(self.row["tags"] or "[]")
            self._tags = value if isinstance(value, list) else []
        return self._tags


def _decode_object(text: str | None) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


Predicate = Callable[[RunRecord], bool]
Test = Callable[[Any], bool]


# --------------------------------------------------------------------------- fields

COLUMNS: Final = {
    "state": "state",
    "name": "name",
    "display_name": "display_name",
    "displayName": "display_name",
    "group": "group_name",
    "job_type": "job_type",
    "jobType": "job_type",
    "created_at": "created_at",
    "createdAt": "created_at",
    "updated_at": "updated_at",
    "updatedAt": "updated_at",
    "heartbeat_at": "heartbeat_at",
    "heartbeatAt": "heartbeat_at",
}
TIME_COLUMNS: Final = frozenset({"created_at", "updated_at", "heartbeat_at"})
CONFIG_PREFIXES: Final = ("config.",)
SUMMARY_PREFIXES: Final = ("summary_metrics.", "summaryMetrics.")
FIELD_HELP: Final = (
    "state, tags, name, display_name, group, job_type, created_at, updated_at, heartbeat_at,"
    " config.<key>, summary_metrics.<key>"
)


@dataclass(frozen=True)
class Field:
    """A compiled field reference: how to read it from a run and how to read constants."""

    name: str
    get: Callable[[RunRecord], Any]
    is_time: bool = False

    def constant(self, value: Any) -> Any:
        """A filter constant in the form stored values have (timestamps normalised)."""
        if not self.is_time or value is None:
            return value
        if not isinstance(value, str):
            raise BadInput(f"filter on {self.name!r} expects an ISO 8601 timestamp string")
        return normalize_timestamp(value, self.name)


def normalize_timestamp(value: str, field: str) -> str:
    """``value`` as stored: ISO 8601 UTC without zone, with microseconds."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"filter on {field!r}: {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="microseconds")


def _lookup(value: Any, parts: Sequence[str]) -> Any:
    """``value`` at a dotted path; keys that themselves contain dots are tried first."""
    if not parts:
        return value
    if not isinstance(value, dict):
        return MISSING
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in value:
            found = _lookup(value[key], parts[i:])
            if found is not MISSING:
                return found
    return MISSING


def _config_lookup(config: dict[str, Any], parts: Sequence[str]) -> Any:
    """A value of the wrapped config: ``a.b`` and ``a.value.b`` both read ``config[a].value.b``."""
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key not in config:
            continue
        entry = config[key]
        value = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
        rest = parts[i:]
        if rest and rest[0] == "value":
            found = _lookup(value, rest[1:])
            if found is not MISSING:
                return found
        found = _lookup(value, rest)
        if found is not MISSING:
            return found
    return MISSING


def _column_getter(column: str) -> Callable[[RunRecord], Any]:
    def get(record: RunRecord) -> Any:
        value = record.row[column]
        return MISSING if value is None else value

    return get


def _config_getter(parts: list[str]) -> Callable[[RunRecord], Any]:
    return lambda record: _config_lookup(record.config, parts)


def _summary_getter(parts: list[str]) -> Callable[[RunRecord], Any]:
    return lambda record: _lookup(record.summary, parts)


def resolve_field(name: Any) -> Field:
    """The field a filter key or order names; :class:`BadInput` when it is not one we know."""
    if not isinstance(name, str) or not name:
        raise BadInput(f"invalid run field {name!r}; known fields: {FIELD_HELP}")
    if name in COLUMNS:
        column = COLUMNS[name]
        return Field(name, _column_getter(column), is_time=column in TIME_COLUMNS)
    if name == "tags":
        return Field(name, lambda record: record.tags)
    for prefix in CONFIG_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return Field(name, _config_getter(name[len(prefix) :].split(".")))
    for prefix in SUMMARY_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return Field(name, _summary_getter(name[len(prefix) :].split(".")))
    raise BadInput(f"unknown run field {name!r} in filters/order; known fields: {FIELD_HELP}")


# --------------------------------------------------------------------------- values


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def values_equal(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (``True`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _comparable(a: Any, b: Any) -> bool:
    return (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _elements(value: Any) -> list[Any]:
    """What element-wise operators look at: a list's elements, else the value itself."""
    return value if isinstance(value, list) else [value]


def _eq_test(constant: Any) -> Test:
    def test(value: Any) -> bool:
        if value is MISSING:
            return constant is None
        if constant is None and value is None:
            return True
        if isinstance(value, list) and any(values_equal(e, constant) for e in value):
            return True
        return values_equal(value, constant)

    return test


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$gt": lambda a, b: bool(a > b),
    "$gte": lambda a, b: bool(a >= b),
    "$lt": lambda a, b: bool(a < b),
    "$lte": lambda a, b: bool(a <= b),
}
_REGEX_FLAGS: Final = "ims"
"""``$options`` letters, passed to RE2 as inline flags (RE2 has no verbose mode ``x``)."""
MAX_FILTER_DEPTH: Final = 32
"""Deepest nesting of ``$and`` / ``$or`` / ``$nor`` in a filter."""
MAX_REGEX_LENGTH: Final = 4096
"""Longest ``$regex`` pattern."""
_REGEX_MEMORY: Final = 8 << 20
"""RE2's memory budget for one compiled pattern (its automata), in bytes."""


def _compare_test(op: str, constant: Any) -> Test:
    compare = _COMPARISONS[op]

    def test(value: Any) -> bool:
        if value is MISSING:
            return False
        return any(_comparable(e, constant) and compare(e, constant) for e in _elements(value))

    return test


def _regex_test(pattern: Any, options: Any, field: str) -> Test:
    """A ``$regex`` test run by RE2: matching is linear in the text, whatever the pattern
    (no backtracking), so no filter can hold the server. RE2 has no backreferences or
    lookaround; such patterns are refused as invalid."""
    if not isinstance(pattern, str):
        raise BadInput(f"$regex on {field!r} needs a string pattern, got {pattern!r}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise BadInput(f"$regex on {field!r} is over {MAX_REGEX_LENGTH} characters")
    if options is not None:
        if not isinstance(options, str) or any(c not in _REGEX_FLAGS for c in options):
            raise BadInput(f"$options on {field!r} must be letters from 'ims', got {options!r}")
        pattern = f"(?{''.join(sorted(set(options)))}){pattern}" if options else pattern
    settings = re2.Options()
    settings.log_errors = False
    settings.max_mem = _REGEX_MEMORY
    try:
        compiled = re2.compile(pattern, settings)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise BadInput(
            f"invalid $regex {pattern!r} on {field!r}: {reason} (RE2 syntax: no backreferences"
            " or lookaround)"
        ) from None

    def test(value: Any) -> bool:
        if value is MISSING:
            return False
        return any(isinstance(e, str) and compiled.search(e) for e in _elements(value))

    return test


def _list_arg(op: str, arg: Any, field: Field) -> list[Any]:
    if not isinstance(arg, list):
        raise BadInput(f"{op} on {field.name!r} needs a list, got {arg!r}")
    return [field.constant(item) for item in arg]


def _operator_test(field: Field, op: str, arg: Any, options: Any) -> Test:
    if op == "$eq":
        return _eq_test(field.constant(arg))
    if op == "$ne":
        eq = _eq_test(field.constant(arg))
        return lambda value: not eq(value)
    if op in _COMPARISONS:
        constant = field.constant(arg)
        if not (is_number(constant) or isinstance(constant, str)):
            raise BadInput(f"{op} on {field.name!r} needs a number or string, got {arg!r}")
        return _compare_test(op, constant)
    if op in ("$in", "$nin"):
        tests = [_eq_test(c) for c in _list_arg(op, arg, field)]
        if op == "$in":
            return lambda value: any(t(value) for t in tests)
        return lambda value: not any(t(value) for t in tests)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise BadInput(f"$exists on {field.name!r} needs true or false, got {arg!r}")
        return lambda value: (value is not MISSING) == arg
    if op == "$regex":
        return _regex_test(arg, options, field.name)
    raise BadInput(
        f"unknown filter operator {op!r} on {field.name!r}; supported: "
        "$eq $ne $gt $gte $lt $lte $in $nin $exists $regex"
    )


def _field_predicate(name: str, condition: Any) -> Predicate:
    field = resolve_field(name)
    if isinstance(condition, dict) and any(str(k).startswith("$") for k in condition):
        if not all(str(k).startswith("$") for k in condition):
            raise BadInput(f"filter on {name!r} mixes operators and plain keys: {condition!r}")
        options = condition.get("$options")
        if options is not None and "$regex" not in condition:
            raise BadInput(f"$options on {name!r} is only valid with $regex")
        tests = [
            _operator_test(field, op, arg, options)
            for op, arg in condition.items()
            if op != "$options"
        ]
    else:
        tests = [_eq_test(field.constant(condition))]

    def predicate(record: RunRecord) -> bool:
        value = field.get(record)
        return all(test(value) for test in tests)

    return predicate


def _clauses(op: str, arg: Any, depth: int) -> list[Predicate]:
    if not isinstance(arg, list) or not arg:
        raise BadInput(f"{op} needs a non-empty list of filter objects, got {_short(arg)}")
    if depth >= MAX_FILTER_DEPTH:
        raise BadInput(
            f"filter nests $and/$or/$nor more than {MAX_FILTER_DEPTH} levels deep: flatten it"
        )
    return [_document_predicate(item, depth + 1) for item in arg]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _all_of(clauses: list[Predicate]) -> Predicate:
    return lambda record: all(p(record) for p in clauses)


def _any_of(clauses: list[Predicate]) -> Predicate:
    return lambda record: any(p(record) for p in clauses)


def _none_of(clauses: list[Predicate]) -> Predicate:
    return lambda record: not any(p(record) for p in clauses)


_COMBINERS: Final[dict[str, Callable[[list[Predicate]], Predicate]]] = {
    "$and": _all_of,
    "$or": _any_of,
    "$nor": _none_of,
}


def _document_predicate(document: Any, depth: int = 0) -> Predicate:
    if not isinstance(document, dict):
        raise BadInput(f"a filter must be a JSON object, got {_short(document)}")
    parts: list[Predicate] = []
    for key, value in document.items():
        if key in _COMBINERS:
            parts.append(_COMBINERS[key](_clauses(key, value, depth)))
        elif key.startswith("$"):
            raise BadInput(
                f"unknown filter operator {key!r} at the top of a filter; use $and, $or, $nor"
                " or a field name"
            )
        else:
            parts.append(_field_predicate(key, value))
    return _all_of(parts)


def compile_filter(filters: Any) -> Predicate:
    """A predicate over :class:`RunRecord` for a decoded filter document (None: all runs).

    ```python
    compile_filter({"tags": {"$in": ["a", "b"]}})(RunRecord(row))  # bool
    ```
    """
    if filters is None:
        return lambda record: True
    return _document_predicate(filters)


def matches_everything(filters: Any) -> bool:
    """Whether a decoded filter document selects every run (None or ``{}``)."""
    return filters is None or (isinstance(filters, dict) and not filters)


def referenced_fields(filters: Any) -> set[str]:
    """The field names a (valid, compiled) filter document mentions.

    ```python
    referenced_fields({"$or": [{"config.lr": 1}, {"state": "running"}]})
    # {"config.lr", "state"}
    ```
    """
    found: set[str] = set()
    if not isinstance(filters, dict):
        return found
    for key, value in filters.items():
        if key in _COMBINERS:
            for item in value if isinstance(value, list) else []:
                found |= referenced_fields(item)
        elif not key.startswith("$"):
            found.add(key)
    return found


def json_columns(names: set[str]) -> set[str]:
    """The JSON columns (``config``, ``summary``, ``tags``) that reading ``names`` decodes."""
    needed: set[str] = set()
    for name in names:
        if name == "tags":
            needed.add("tags")
        elif name.startswith(CONFIG_PREFIXES):
            needed.add("config")
        elif name.startswith(SUMMARY_PREFIXES):
            needed.add("summary")
    return needed


def name_candidates(filters: Any) -> list[str] | None:
    """The run names of a ``{"name": {"$in": [...]}}`` filter (None for any other filter).

    Every run the filter matches has one of these names, so SQL may narrow the runs to them
    before the compiled filter runs (non-string elements can match no run name).
    """
    if not isinstance(filters, dict) or list(filters) != ["name"]:
        return None
    condition = filters["name"]
    if not isinstance(condition, dict) or list(condition) != ["$in"]:
        return None
    names = condition["$in"]
    if not isinstance(names, list):
        return None
    return [name for name in names if isinstance(name, str)]
