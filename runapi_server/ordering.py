"""The ``order`` of a runs listing: parsed once, run in SQL for a column
(:func:`runapi_server.storage.runs.ordered_run_ids`), or as a Python sort over decoded
records for a JSON field (config, summary) or tags.

Both keep W&B's rules: ``+field`` ascending, ``-field`` descending, runs lacking the field
(or holding null) last either way, ties in creation order.

```python
order = parse_order("-summary_metrics.loss")
rows = sorter(order)(records) if order.column is None else ...  # SQL: ordered_run_ids
```
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from runapi_server.filters import COLUMNS, MISSING, Field, RunRecord, is_number, resolve_field

DEFAULT_ORDER: Final = "+created_at"


def _sort_key(value: Any) -> tuple[int, float, str]:
    if is_number(value):
        number = float(value)
        return (0, -math.inf if math.isnan(number) else number, "")
    if isinstance(value, str):
        return (1, 0.0, value)
    if isinstance(value, bool):
        return (2, float(value), "")
    return (3, 0.0, json.dumps(value, sort_keys=True, default=str))


@dataclass(frozen=True)
class Order:
    """A parsed ``order`` argument: the field, its direction, and its column if it is one."""

    field: Field
    descending: bool
    column: str | None  # the ``runs`` column of a column field, else None (JSON or tags)


def parse_order(order: str | None) -> Order:
    """The order ``+field`` / ``-field`` names (default ``+created_at``); :class:`BadInput`
    for an unknown field.

    ```python
    parse_order("-created_at").column  # "created_at"
    ```
    """
    text = (order or "").strip() or DEFAULT_ORDER
    descending = text.startswith("-")
    name = (text[1:] if text[0] in "+-" else text).strip()
    field = resolve_field(name)
    return Order(field=field, descending=descending, column=COLUMNS.get(name))


def sorter(order: Order) -> Callable[[list[RunRecord]], list[RunRecord]]:
    """The sort of a parsed order (see :func:`compile_order`)."""
    field, descending = order.field, order.descending

    def sort(records: list[RunRecord]) -> list[RunRecord]:
        present: list[tuple[tuple[int, float, str], RunRecord]] = []
        missing: list[RunRecord] = []
        for record in records:
            value = field.get(record)
            if value is MISSING or value is None:
                missing.append(record)
            else:
                present.append((_sort_key(value), record))
        # sort() is stable, also with reverse=True: equal keys keep creation order.
        present.sort(key=lambda pair: pair[0], reverse=descending)
        return [record for _key, record in present] + missing

    return sort


def compile_order(order: str | None) -> Callable[[list[RunRecord]], list[RunRecord]]:
    """A sort for records given in creation order: ``+field`` ascending, ``-field`` descending.

    Ties keep creation order; runs lacking the field (or holding null) come last either way.

    ```python
    compile_order("-summary_metrics.loss")(records)
    ```
    """
    return sorter(parse_order(order))
