"""What the storage layer's SQL runs on: a connection, its rows, and its dialect.

Every backend (SQLite, PostgreSQL) hands the storage modules a :class:`Connection`.
They write one SQL text for both, in the subset the two share:

- ``?`` placeholders (the PostgreSQL connection turns them into ``%s``);
- ``INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING`` (never ``INSERT OR REPLACE``);
- ``RETURNING id`` for a new row's id (never ``lastrowid``);
- aggregates whose columns are all grouped, ``CAST`` to a named type, no ``LIKE``
  (case rules differ), no index hints;

and ask :class:`Dialect` for the few fragments that differ (a list of values bound as
one parameter, the byte length of a text).

```python
with db.transaction() as conn:
    run_id = conn.execute("INSERT INTO runs (...) VALUES (?, ?) RETURNING id", (a, b)).one()[0]
fragment, param = conn.dialect.int_list([3, 5, 8])
conn.execute(f"SELECT row FROM history WHERE line_no IN {fragment}", (param,)).tuples()
```
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with the server extra
    orjson = None  # type: ignore[assignment]

DialectName = Literal["sqlite", "postgresql"]

WRITER_LOCK = 0x72756E617069  # PostgreSQL advisory lock key of the one writer ("runapi")
RUN_LOCKS = 0x72756E61  # first key of the per-run advisory locks (the run id the second)


class Row(Protocol):
    """A result row: by position or by column name, like :class:`sqlite3.Row`."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Result(Protocol):
    """The rows of one statement, read once."""

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT/UPDATE/DELETE."""

    def one(self) -> Row:
        """The first row; ``LookupError`` if there is none."""

    def first(self) -> Row | None:
        """The first row, or ``None``."""

    def all(self) -> list[Row]: ...

    def tuples(self) -> list[tuple[Any, ...]]:
        """Every row as a plain tuple (cheaper than rows by name)."""

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows as plain tuples, ``size`` at a time (bounded memory)."""

    def __iter__(self) -> Iterator[Row]: ...


class Connection(Protocol):
    """One backend connection, in a transaction (writes) or autocommit (reads)."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ between the backends."""

    name: DialectName

    def int_list(self, values: Sequence[int]) -> tuple[str, Any]:
        """``(fragment, parameter)``: ``x IN {fragment}`` with ``parameter`` bound once.

        One parameter however long the list is (SQLite caps bound parameters per
        statement).
        """
        if self.name == "sqlite":
            return "(SELECT value FROM json_each(?))", json.dumps([int(v) for v in values])
        return "(SELECT unnest(CAST(? AS BIGINT[])))", [int(v) for v in values]

    def text_list(self, values: Sequence[str]) -> tuple[str, Any]:
        """As :meth:`int_list`, for strings."""
        if self.name == "sqlite":
            return "(SELECT value FROM json_each(?))", json.dumps(list(values))
        return "(SELECT unnest(CAST(? AS TEXT[])))", list(values)

    def numbered_texts(self, values: Sequence[str | None]) -> tuple[str, Any]:
        """``(fragment, parameter)``: ``FROM {fragment}`` is a table of ``pos`` (0-based
        position) and ``value`` of each string of ``values`` (None elements are left
        out), bound as one parameter."""
        if self.name == "sqlite":
            fragment = "(SELECT key AS pos, value FROM json_each(?) WHERE type = 'text')"
            return fragment, _json_text(values)
        return (
            "(SELECT n - 1 AS pos, value FROM unnest(CAST(? AS TEXT[]))"
            " WITH ORDINALITY AS u(value, n) WHERE value IS NOT NULL)",
            list(values),
        )

    def numbered_rows(
        self, a: Sequence[int], b: Sequence[int], values: Sequence[str]
    ) -> tuple[str, tuple[Any, ...]]:
        """``(fragment, parameters)``: ``FROM {fragment}`` is a table of ``pos``
        (0-based), ``a``, ``b`` and ``value``: one row a position of the three lists (of
        one length)."""
        if self.name == "sqlite":
            fragment = (
                "(SELECT key AS pos, json_extract(value, '$[0]') AS a,"
                " json_extract(value, '$[1]') AS b, json_extract(value, '$[2]') AS value"
                " FROM json_each(?))"
            )
            return fragment, (_json_text(list(zip(a, b, values, strict=True))),)
        fragment = (
            "(SELECT n - 1 AS pos, a, b, value FROM unnest(CAST(? AS BIGINT[]),"
            " CAST(? AS BIGINT[]), CAST(? AS TEXT[])) WITH ORDINALITY AS u(a, b, value, n))"
        )
        return fragment, ([int(v) for v in a], [int(v) for v in b], list(values))

    @property
    def one_writer(self) -> bool:
        """Whether write transactions run one at a time (SQLite), so that one may take
        shared rows (key sets) in any order without waiting on another's."""
        return self.name == "sqlite"

    @property
    def begin_write(self) -> tuple[str, ...]:
        """The statements that open a write transaction holding the database's one
        writer lock (across processes)."""
        if self.name == "sqlite":
            return ("BEGIN IMMEDIATE",)
        return ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")

    def begin_run_write(self, run_id: int) -> tuple[str, ...]:
        """The statements that open a write transaction of one run's rows: on
        PostgreSQL the writer lock held shared (every other write transaction holds it
        alone, so none runs meanwhile) and the run's own lock, so writers of different
        runs go on together; SQLite has one writer at a time (:attr:`begin_write`)."""
        if self.name == "sqlite":
            return self.begin_write
        return (
            "BEGIN",
            f"SELECT pg_advisory_xact_lock_shared({WRITER_LOCK})",
            f"SELECT pg_advisory_xact_lock({RUN_LOCKS}, {int(run_id) % 2**31})",
        )

    def binary_text(self, expression: str) -> str:
        """``expression`` (text) compared and ordered by code point, as Python orders
        ``str`` (SQLite's default BINARY collation; PostgreSQL's ``"C"`` collation)."""
        if self.name == "sqlite":
            return expression
        return f'{expression} COLLATE "C"'

    def byte_length(self, expression: str) -> str:
        """The UTF-8 byte length of a text ``expression``."""
        if self.name == "sqlite":
            return f"length(CAST({expression} AS BLOB))"
        return f"octet_length({expression})"


def _json_text(value: Any) -> str:
    """JSON text of ``value`` (lists of strings and numbers): orjson, else the stdlib.
    Strings are kept as they are (a lone surrogate then fails when the text is bound,
    as any such string does)."""
    if orjson is not None:
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass
    return json.dumps(value, ensure_ascii=False)


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")
