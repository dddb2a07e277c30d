"""Relay pagination over an ordered list: opaque cursors, ``first/after/last/before``.

A cursor is base64 of ``<kind>:v1:<position>``; a cursor made for another list (another
kind) or not made by us at all is rejected with :class:`BadInput`.

```python
page = paginate(["a", "b", "c"], "runs", first=2)
[cursor for _item, cursor in page.edges]   # two opaque strings
page.page_info["hasNextPage"]               # True
```
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runapi_server.errors import BadInput

T = TypeVar("T")


def encode_cursor(kind: str, position: int) -> str:
    """The opaque cursor of the item at ``position`` (0-based) in a list of ``kind``."""
    return base64.urlsafe_b64encode(f"{kind}:v1:{position}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> int:
    """The position a cursor of ``kind`` names; :class:`BadInput` for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadInput(f"invalid cursor {cursor!r}: not a cursor this server issued") from None
    prefix, _, number = text.rpartition(":")
    if prefix != f"{kind}:v1" or not number.isdigit():
        raise BadInput(f"invalid cursor {cursor!r}: not a cursor of this {kind} list")
    return int(number)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: the items with their cursors, ``pageInfo`` and the list's total."""

    edges: list[tuple[T, str]]
    page_info: dict[str, Any]
    total: int


def _check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise BadInput(f"{name} must not be negative, got {value}")


def paginate(
    items: Sequence[T],
    kind: str,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page[T]:
    """The page of ``items`` that Relay's arguments select (all items when none is given)."""
    _check_count("first", first)
    _check_count("last", last)
    total = len(items)
    start, end = 0, total
    if after is not None:
        start = min(total, decode_cursor(kind, after) + 1)
    if before is not None:
        end = min(end, decode_cursor(kind, before))
    end = max(start, end)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    edges = [(items[i], encode_cursor(kind, i)) for i in range(start, end)]
    page_info = {
        "startCursor": edges[0][1] if edges else None,
        "endCursor": edges[-1][1] if edges else None,
        "hasNextPage": end < total,
        "hasPreviousPage": start > 0,
    }
    return Page(edges=edges, page_info=page_info, total=total)
