"""What a `Run` holds and edits: config unwrapping, the editable fields, and the
`upsertBucket` input that writes a run's changes (pure: no I/O).

- `unwrap_config(raw)`: W&B's stored config `{k: {"value": v, "desc": d}}` as `{k: v}`,
  internal keys hidden. The run page, `Run.config` and the runs table all use it.
- `EditableField`: a descriptor for a run field the user may set (`tags`, `notes`, ...);
  the value is checked on assignment and written by `Run.update()`.
- `changes_input(...)`: the `UpsertBucketInput` fields for what changed since the load,
  applied on top of a fresh read so other writers' keys are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from ._json import dumps, loads_object, same_value

if TYPE_CHECKING:
    from runapi_generated.fragments import RunFields

T = TypeVar("T")

HIDDEN_CONFIG_KEYS = frozenset({"_wandb", "wandb_version"})
"""W&B's internal config keys, hidden from `Run.config` and the runs table."""

FIELD_INPUTS = {
    "display_name": "displayName",
    "tags": "tags",
    "notes": "notes",
    "group": "groupName",
    "job_type": "jobType",
    "description": "description",
}
"""Editable run fields: facade attribute -> `UpsertBucketInput` field (by alias)."""


def config_value(entry: Any) -> Any:
    """One stored config entry's value: `{"value": v, "desc": d}` -> `v`; else as is."""
    return entry["value"] if type(entry) is dict and "value" in entry else entry


def unwrap_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`{k: {"value": v, "desc": d}}` -> `{k: v}`, W&B's internal keys left out.

    ```python
    >>> unwrap_config({"lr": {"value": 0.1, "desc": None}, "_wandb": {"value": {}}})
    {'lr': 0.1}
    ```
    """
    return {k: config_value(v) for k, v in raw.items() if k not in HIDDEN_CONFIG_KEYS}


def field_values(fields: RunFields) -> dict[str, Any]:
    """The editable fields' values as loaded."""
    return {
        "display_name": fields.display_name,
        "tags": list(fields.tags or []),
        "notes": fields.notes,
        "group": fields.group,
        "job_type": fields.job_type,
        "description": fields.description,
    }


def diff(current: Mapping[str, Any], base: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """(keys set or changed since `base`, keys deleted since `base`)."""
    changed = {k: v for k, v in current.items() if k not in base or not same_value(v, base[k])}
    return changed, set(base) - set(current)


def changes_input(
    fresh: RunFields,
    fields: Mapping[str, Any],
    config: tuple[Mapping[str, Any], set[str]],
    summary: tuple[Mapping[str, Any], set[str]],
) -> dict[str, Any]:
    """`UpsertBucketInput` fields (by alias) writing `fields` and the config and summary
    diffs (`(set, deleted)`) on top of the run as `fresh` has it."""
    data: dict[str, Any] = {"id": fresh.id}
    for name, value in fields.items():
        data[FIELD_INPUTS[name]] = value
    config_set, config_deleted = config
    if config_set or config_deleted:
        raw = loads_object(fresh.config, "run config")
        for key, value in config_set.items():
            old = raw.get(key)
            desc = old.get("desc") if isinstance(old, dict) else None
            raw[key] = {"value": value, "desc": desc}
        for key in config_deleted:
            raw.pop(key, None)
        data["config"] = dumps(raw)
    summary_set, summary_deleted = summary
    if summary_set or summary_deleted:
        values = loads_object(fresh.summary_metrics, "run summary")
        values.update(summary_set)
        for key in summary_deleted:
            values.pop(key, None)
        data["summaryMetrics"] = dumps(values)
    return data


class HoldsFields(Protocol):
    """What `EditableField` reads and writes through (a `Run`)."""

    def _value(self, name: str) -> Any: ...
    def _set_value(self, name: str, value: Any) -> None: ...


def optional_str(field: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{field} must be a str or None, not {value!r}")
        return value

    return check


def str_list(field: str) -> Callable[[object], list[str]]:
    def check(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise ValueError(f"{field} must be a list of str, not {value!r}")
        return list(value)

    return check


class EditableField(Generic[T]):
    """A run field the user may read and set; `Run.update()` writes what changed.

    ```python
    class Run:
        notes = EditableField[str | None]("notes", optional_str("notes"))
    ```
    """

    def __init__(self, field: str, check: Callable[[object], T]) -> None:
        self._field = field
        self._check = check

    @overload
    def __get__(self, obj: None, owner: type) -> EditableField[T]: ...
    @overload
    def __get__(self, obj: HoldsFields, owner: type) -> T: ...
    def __get__(self, obj: HoldsFields | None, owner: type) -> EditableField[T] | T:
        if obj is None:
            return self
        value: T = obj._value(self._field)
        return value

    def __set__(self, obj: HoldsFields, value: T) -> None:
        obj._set_value(self._field, self._check(value))
