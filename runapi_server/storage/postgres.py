"""PostgreSQL backend (psycopg 3): the team server's database, shared by many processes.

Chosen with ``runapi serve --database postgresql://user:password@host:5432/dbname``.
Each server thread holds one connection (reopened if it breaks), in autocommit for
reads; a write transaction takes one advisory lock first, so writers are serialised
across every process on the database exactly as SQLite serialises them in one file.

The storage modules' SQL is shared with SQLite (see
:mod:`runapi_server.storage.connection`): ``?`` placeholders become ``%s`` here, Python
booleans are sent as integers (the schema has no boolean columns), and a NUMERIC
aggregate (``sum`` of integers) comes back as ``int``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format, TransactionStatus

from runapi_server.errors import BadInput
from runapi_server.storage.connection import POSTGRESQL, Dialect, Row
from runapi_server.storage.threads import PerThreadConnections


class _BoolAsInt(Dumper):
    """``True``/``False`` as 1/0: the schema keeps flags in INTEGER columns (as SQLite)."""

    oid = psycopg.adapters.types["int8"].oid
    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(Loader):
    """NUMERIC as ``int`` when whole (``sum`` of BIGINTs is NUMERIC), else ``float``."""

    def load(self, data: Any) -> Any:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``).

    Quoted text (``'...'`` and ``"..."``) is copied unchanged apart from ``%``.
    """
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PgRow:
    """A row by position or column name (what :class:`sqlite3.Row` offers)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


class PgResult:
    def __init__(self, cursor: psycopg.Cursor[tuple[Any, ...]], conn: PgConnection) -> None:
        self._cursor = cursor
        self._conn = conn  # keeps the connection open while its rows are read
        description = cursor.description or []
        self._index = {column.name: i for i, column in enumerate(description)}

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def first(self) -> Row | None:
        values = self._cursor.fetchone() if self._cursor.description else None
        return None if values is None else PgRow(values, self._index)

    def one(self) -> Row:
        row = self.first()
        if row is None:
            raise LookupError("the statement returned no row")
        return row

    def all(self) -> list[Row]:
        return [PgRow(values, self._index) for values in self.tuples()]

    def tuples(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self._cursor.description else []

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        if not self._cursor.description:
            return
        while batch := self._cursor.fetchmany(size):
            yield batch

    def __iter__(self) -> Iterator[Row]:
        return (PgRow(values, self._index) for values in self.tuples())


RawConnection = psycopg.Connection[tuple[Any, ...]]


class PgConnection:
    """A psycopg connection as the storage layer's :class:`Connection`.

    A connection the server dropped (restart, ``pg_terminate_backend``, network) is found
    out by the first statement sent on it: when that statement starts a transaction or
    reads outside one (so it cannot have changed anything), it is sent again on a new
    connection instead of failing the request. The connection closes when dropped, as
    :class:`sqlite3.Connection` does.
    """

    def __init__(self, raw: RawConnection, reopen: Callable[[], RawConnection]) -> None:
        self.raw = raw
        self._reopen = reopen

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgResult:
        _refuse_nul(params)
        retry = _retryable(sql) and self.raw.info.transaction_status == TransactionStatus.IDLE
        try:
            cursor = self.raw.cursor()
            cursor.execute(translate(sql), params)
        except psycopg.OperationalError:
            if not (retry and self.raw.broken):
                raise
            self.raw.close()
            self.raw = self._reopen()
            cursor = self.raw.cursor()
            cursor.execute(translate(sql), params)
        return PgResult(cursor, self)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        for row in rows:
            _refuse_nul(row)
        with self.raw.cursor() as cursor:
            cursor.executemany(translate(sql), rows)

    def close(self) -> None:
        self.raw.close()

    def __del__(self) -> None:
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            with suppress(Exception):
                raw.close()


def _retryable(sql: str) -> bool:
    """Whether ``sql`` changes nothing by itself: a read, or the start of a transaction."""
    head = sql.lstrip()[:6].upper()
    return head.startswith(("SELECT", "BEGIN"))


def _refuse_nul(params: Sequence[Any]) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite's can): such a value is the client's
    error (:class:`BadInput`, a 400), never a failed statement (a 500)."""
    for value in params:
        if isinstance(value, str) and "\x00" in value:
            raise BadInput(
                "text with a NUL character (U+0000) cannot be stored or looked up on this"
                " server (PostgreSQL)"
            )


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=netloc[0].split(":")[0] + ":***@" + netloc[2]))


def _connect(url: str) -> RawConnection:
    raw = psycopg.connect(url, autocommit=True, connect_timeout=30)
    raw.adapters.register_dumper(bool, _BoolAsInt)
    raw.adapters.register_loader("numeric", _NumericAsNumber)
    return raw


class PostgresDatabase(PerThreadConnections[PgConnection]):
    """A PostgreSQL database shared by any number of server processes."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    @property
    def description(self) -> str:
        return f"database {redacted(self.url)}"

    def _open(self) -> PgConnection:
        # the reopener names the URL, not self: no cycle keeps a dropped connection open
        reopen = partial(_connect, self.url)
        return PgConnection(reopen(), reopen)

    def _usable(self, conn: PgConnection) -> bool:
        return not (conn.raw.closed or conn.raw.broken)

    @staticmethod
    def _close(conn: PgConnection) -> None:
        conn.raw.close()

    @contextmanager
    def transaction(self, run_id: int | None = None) -> Iterator[PgConnection]:
        conn = self.connect()
        begin = POSTGRESQL.begin_write if run_id is None else POSTGRESQL.begin_run_write(run_id)
        for statement in begin:
            conn.execute(statement)
        try:
            yield conn
        except BaseException:
            if not conn.raw.broken:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
