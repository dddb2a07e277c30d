"""Typed run filters that compile to W&B's MongoDB-style filter JSON.

Build a filter from fields and operators; `api.runs(path, filters=...)` takes it as it
takes a dict. The output is W&B's own filter language and nothing else (`$and $or $nor
$eq $ne $gt $gte $lt $lte $in $nin $exists $regex`), so it works against W&B's servers
as well as `runapi serve`.

```python
from datetime import datetime, UTC
from runapi.filters import Config, CreatedAt, State, Summary, Tags

f = (Config("lr") > 0.01) & State.in_(["finished", "crashed"]) & ~Tags.contains("debug")
f |= Summary("acc") >= 0.9
runs = api.runs("alice/mnist", filters=f)
f.to_dict()   # {"$or": [{"$and": [...]}, {"summary_metrics.acc": {"$gte": 0.9}}]}
CreatedAt >= datetime(2026, 1, 1, tzinfo=UTC)
```

Each field accepts only the values its W&B field holds, so mypy rejects
`CreatedAt > "yesterday"` (a `datetime` is needed) and `Config("lr") > [1]`. `State`
compares only to a run state; `State == 5` raises `TypeError` and, being a `bool` to mypy,
is rejected wherever a filter is expected. A filter has no truth value: `a and b` or
`0 < Config("lr") < 1` raise `TypeError` (use `&` and two comparisons).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

__all__ = [
    "Config",
    "CreatedAt",
    "DisplayName",
    "Filter",
    "Group",
    "JobType",
    "Name",
    "RunState",
    "State",
    "Summary",
    "Tags",
    "and_",
    "not_",
    "or_",
]

RunState = Literal[
    "running", "pending", "finished", "failed", "crashed", "killed", "preempted", "preempting"
]
"""The states a W&B run can be in."""

RUN_STATES: Final[tuple[str, ...]] = get_args(RunState)

Scalar = str | int | float | bool
"""A value a config or summary entry can be compared with for equality."""
Orderable = int | float | str
"""A value a config or summary entry can be ordered against (`<`, `>=`)."""


class Filter:
    """A compiled filter: combine with `&` (and), `|` (or), `~` (not).

    ```python
    f = (State == "finished") & (Config("lr") > 0.01)
    f.to_dict()  # {"$and": [{"state": "finished"}, {"config.lr": {"$gt": 0.01}}]}
    ```
    """

    __slots__ = ("_value",)

    def __init__(self, value: dict[str, Any]) -> None:
        self._value = value

    def to_dict(self) -> dict[str, Any]:
        """The filter as W&B's filter JSON (a fresh copy)."""
        return copy.deepcopy(self._value)

    def to_json(self) -> str:
        """The filter as a JSON string, as sent in the `filters` GraphQL argument."""
        return json.dumps(self._value, allow_nan=False, separators=(",", ":"))

    def __and__(self, other: Filter) -> Filter:
        return and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return or_(self, other)

    def __invert__(self) -> Filter:
        return not_(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a runapi filter has no truth value: combine filters with & | ~ (not and/or/not),"
            " and write a range as two comparisons joined by &"
        )

    def __repr__(self) -> str:
        return f"Filter({self.to_json()})"


def _check(value: object) -> Filter:
    if not isinstance(value, Filter):
        raise TypeError(f"expected a runapi filter, not {value!r}")
    return value


def _combine(op: str, filters: tuple[Filter, ...]) -> Filter:
    if not filters:
        raise ValueError(f"{op} needs at least one filter")
    parts: list[dict[str, Any]] = []
    for item in filters:
        value = _check(item)._value
        if list(value) == [op]:
            parts.extend(copy.deepcopy(value[op]))  # (a & b) & c: one flat $and
        else:
            parts.append(copy.deepcopy(value))
    return Filter({op: parts}) if len(parts) > 1 else Filter(parts[0])


def and_(*filters: Filter) -> Filter:
    """Runs matching every filter (`$and`); `a & b` is `and_(a, b)`.

    ```python
    and_(State == "finished", Config("lr") > 0.01, Tags.contains("baseline"))
    ```
    """
    return _combine("$and", filters)


def or_(*filters: Filter) -> Filter:
    """Runs matching any filter (`$or`); `a | b` is `or_(a, b)`.

    ```python
    or_(State == "failed", State == "crashed")
    ```
    """
    return _combine("$or", filters)


def not_(f: Filter) -> Filter:
    """Runs not matching `f` (`{"$nor": [f]}`; W&B has no top-level `$not`); `~f` is `not_(f)`.

    ```python
    not_(Tags.contains("debug"))
    ```
    """
    value = _check(f)._value
    if list(value) == ["$nor"] and len(value["$nor"]) == 1:
        return Filter(copy.deepcopy(value["$nor"][0]))  # ~~f is f
    return Filter({"$nor": [copy.deepcopy(value)]})


def _list(values: Iterable[Any], what: str) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"{what} needs a list of values, not {values!r}")
    return list(values)


class _Field:
    """A run field by its W&B filter name."""

    __slots__ = ("_path",)
    __hash__ = None  # type: ignore[assignment]  # == builds a filter, so fields are unhashable

    def __init__(self, path: str) -> None:
        self._path = path

    @property
    def path(self) -> str:
        """The field's name in W&B's filter JSON (`config.lr`, `state`)."""
        return self._path

    def _op(self, op: str, value: Any) -> Filter:
        return Filter({self._path: {op: value}})

    def exists(self, present: bool = True) -> Filter:
        """Runs that have (or, with `present=False`, lack) this field (`$exists`)."""
        if not isinstance(present, bool):
            raise TypeError(f"exists() takes a bool, not {present!r}")
        return self._op("$exists", present)

    def __repr__(self) -> str:
        return f"<field {self._path}>"


def _regex(field: _Field, pattern: str, ignore_case: bool) -> Filter:
    if not isinstance(pattern, str):
        raise TypeError(f"regex() on {field.path} needs a str pattern, not {pattern!r}")
    condition: dict[str, Any] = {"$regex": pattern}
    if ignore_case:
        condition["$options"] = "i"
    return Filter({field.path: condition})


def _scalar(field: _Field, value: object) -> Scalar:
    if isinstance(value, str | int | float | bool) and value == value:  # NaN has no match
        return value
    raise TypeError(f"{field.path} compares with a str, int, float or bool, not {value!r}")


def _orderable(field: _Field, value: object) -> Orderable:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and value == value:
        return value
    raise TypeError(f"{field.path} orders against an int, float or str, not {value!r}")


class ValueField(_Field):
    """A config or summary entry: any JSON value. See `Config` and `Summary`."""

    __slots__ = ()

    def __eq__(self, other: Scalar) -> Filter:  # type: ignore[override]
        return Filter({self._path: _scalar(self, other)})

    def __ne__(self, other: Scalar) -> Filter:  # type: ignore[override]
        return self._op("$ne", _scalar(self, other))

    def __lt__(self, other: Orderable) -> Filter:
        return self._op("$lt", _orderable(self, other))

    def __le__(self, other: Orderable) -> Filter:
        return self._op("$lte", _orderable(self, other))

    def __gt__(self, other: Orderable) -> Filter:
        return self._op("$gt", _orderable(self, other))

    def __ge__(self, other: Orderable) -> Filter:
        return self._op("$gte", _orderable(self, other))

    def in_(self, values: Iterable[Scalar]) -> Filter:
        """Runs whose value is one of `values` (`$in`)."""
        return self._op("$in", [_scalar(self, v) for v in _list(values, "in_()")])

    def not_in(self, values: Iterable[Scalar]) -> Filter:
        """Runs whose value is none of `values` (`$nin`)."""
        return self._op("$nin", [_scalar(self, v) for v in _list(values, "not_in()")])

    def regex(self, pattern: str, *, ignore_case: bool = False) -> Filter:
        """Runs whose (string) value matches `pattern` anywhere (`$regex`; `^`/`$` anchor)."""
        return _regex(self, pattern, ignore_case)


def _key(prefix: str, key: object) -> str:
    if not isinstance(key, str) or not key or key.startswith(".") or key.endswith("."):
        raise ValueError(f"a {prefix} key must be a non-empty dotted name, not {key!r}")
    return f"{prefix}.{key}"


class Config(ValueField):
    """A config entry; nested keys are dotted (`Config("opt.lr")`).

    ```python
    Config("lr") > 0.01, Config("model") == "resnet", Config("opt.name").in_(["adam", "sgd"])
    ```
    """

    __slots__ = ()

    def __init__(self, key: str) -> None:
        super().__init__(_key("config", key))


class Summary(ValueField):
    """A summary metric (`summary_metrics.<key>` in W&B's filters); nested keys dotted.

    ```python
    Summary("acc") >= 0.9, Summary("loss").exists(False)
    ```
    """

    __slots__ = ()

    def __init__(self, key: str) -> None:
        super().__init__(_key("summary_metrics", key))


def _text(field: _Field, value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"{field.path} compares with a str, not {value!r}")


class TextField(_Field):
    """A text field of a run: `Name` (the run id), `DisplayName`, `Group`, `JobType`."""

    __slots__ = ()

    def __eq__(self, other: str) -> Filter:  # type: ignore[override]
        return Filter({self._path: _text(self, other)})

    def __ne__(self, other: str) -> Filter:  # type: ignore[override]
        return self._op("$ne", _text(self, other))

    def in_(self, values: Iterable[str]) -> Filter:
        """Runs whose value is one of `values` (`$in`)."""
        return self._op("$in", [_text(self, v) for v in _list(values, "in_()")])

    def not_in(self, values: Iterable[str]) -> Filter:
        """Runs whose value is none of `values` (`$nin`)."""
        return self._op("$nin", [_text(self, v) for v in _list(values, "not_in()")])

    def regex(self, pattern: str, *, ignore_case: bool = False) -> Filter:
        """Runs whose value matches `pattern` anywhere (`$regex`; `^`/`$` anchor)."""
        return _regex(self, pattern, ignore_case)


def _state(value: object) -> RunState:
    if value in RUN_STATES:
        return value  # type: ignore[return-value]
    raise TypeError(f"State compares with a run state ({', '.join(RUN_STATES)}), not {value!r}")


class StateField(_Field):
    """The run's state; compares only with a `RunState` (`"finished"`, `"running"`, ...)."""

    __slots__ = ()

    def __eq__(self, other: RunState) -> Filter:  # type: ignore[override]
        return Filter({self._path: _state(other)})

    def __ne__(self, other: RunState) -> Filter:  # type: ignore[override]
        return self._op("$ne", _state(other))

    def in_(self, values: Iterable[RunState]) -> Filter:
        """Runs in one of the `values` states (`$in`)."""
        return self._op("$in", [_state(v) for v in _list(values, "in_()")])

    def not_in(self, values: Iterable[RunState]) -> Filter:
        """Runs in none of the `values` states (`$nin`)."""
        return self._op("$nin", [_state(v) for v in _list(values, "not_in()")])


class TagsField(_Field):
    """The run's tags (a list): conditions hold when a tag matches."""

    __slots__ = ()

    def contains(self, tag: str) -> Filter:
        """Runs tagged `tag` (`{"tags": tag}`)."""
        return Filter({self._path: _text(self, tag)})

    def any_of(self, tags: Iterable[str]) -> Filter:
        """Runs with at least one of `tags` (`$in`)."""
        return self._op("$in", [_text(self, t) for t in _list(tags, "any_of()")])

    def none_of(self, tags: Iterable[str]) -> Filter:
        """Runs with none of `tags` (`$nin`; untagged runs match)."""
        return self._op("$nin", [_text(self, t) for t in _list(tags, "none_of()")])

    def regex(self, pattern: str, *, ignore_case: bool = False) -> Filter:
        """Runs with a tag matching `pattern` anywhere (`$regex`)."""
        return _regex(self, pattern, ignore_case)


def _timestamp(field: _Field, value: object) -> str:
    """`value` as W&B writes timestamps: ISO 8601 in UTC without a zone suffix (naive: UTC)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{field.path} compares with a datetime, not {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


class TimeField(_Field):
    """A run timestamp (`CreatedAt`); compares only with a `datetime` (naive means UTC)."""

    __slots__ = ()

    def __lt__(self, other: datetime) -> Filter:
        return self._op("$lt", _timestamp(self, other))

    def __le__(self, other: datetime) -> Filter:
        return self._op("$lte", _timestamp(self, other))

    def __gt__(self, other: datetime) -> Filter:
        return self._op("$gt", _timestamp(self, other))

    def __ge__(self, other: datetime) -> Filter:
        return self._op("$gte", _timestamp(self, other))


State: Final = StateField("state")
"""The run state: `State == "finished"`, `State.in_(["failed", "crashed"])`."""
Tags: Final = TagsField("tags")
"""The run's tags: `Tags.contains("baseline")`, `Tags.any_of([...])`."""
Name: Final = TextField("name")
"""The run id (W&B's `name`; what `run.id` returns): `Name.in_(["1a2b3c4d"])`."""
DisplayName: Final = TextField("display_name")
"""The run's display name (`run.name`): `DisplayName.regex("^bert")`."""
Group: Final = TextField("group")
"""The run group: `Group == "sweep-3"`, `Group.exists(False)`."""
JobType: Final = TextField("job_type")
"""The job type: `JobType == "train"`."""
CreatedAt: Final = TimeField("created_at")
"""When the run was created: `CreatedAt >= datetime(2026, 1, 1, tzinfo=UTC)`."""
