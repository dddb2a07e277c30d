"""A connection per server thread, what both backends keep: opened on first use (and again
when the backend finds it unusable), the first one bringing the schema up to date. Every
connection opened is also kept in one list, so :meth:`PerThreadConnections.close` (at
server shutdown) closes those of every thread, and a database object dropped without it
closes them when it is collected (not left to each connection's own finaliser, whose
order in a garbage cycle is arbitrary: psycopg warns about a connection collected open).

```python
class MyDatabase(PerThreadConnections[MyConnection]):
    def _open(self) -> MyConnection: ...
```
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Generic, TypeVar

from runapi_server.storage import migrations
from runapi_server.storage.connection import Connection

C = TypeVar("C", bound=Connection)


class PerThreadConnections(Generic[C]):
    """The calling thread's connection of one database (see the module docstring)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._upgrade_lock = threading.Lock()
        self._upgraded = False
        self._opened: list[C] = []
        self._opened_lock = threading.Lock()
        self._generation = 0  # bumped by close(): threads' connections from before are gone
        weakref.finalize(self, _close_each, self._opened, self._opened_lock, type(self)._close)

    @property
    def description(self) -> str:
        raise NotImplementedError

    def _open(self) -> C:
        """A new connection (autocommit)."""
        raise NotImplementedError

    def _usable(self, conn: C) -> bool:
        """Whether the thread's connection can still be used (else it is opened again)."""
        return True

    @staticmethod
    def _close(conn: Any) -> None:
        """Close ``conn`` (static: the finaliser must not keep the database alive)."""
        raise NotImplementedError

    def connect(self) -> C:
        """The calling thread's connection. The first connection of this object brings
        the schema up to date (:func:`runapi_server.storage.migrations.upgrade`); a
        database from a newer runapi raises
        :class:`runapi_server.storage.migrations.SchemaTooNew`."""
        conn: C | None = getattr(self._local, "conn", None)
        current = getattr(self._local, "generation", -1) == self._generation
        if conn is None or not current or not self._usable(conn):
            conn = self._open()
            with self._opened_lock:
                self._opened.append(conn)
            with self._upgrade_lock:
                if not self._upgraded:
                    try:
                        migrations.upgrade(conn, self.description)
                    except BaseException:
                        self._close(conn)
                        raise
                    self._upgraded = True
            self._local.conn = conn
            self._local.generation = self._generation
        return conn

    def read(self) -> C:
        """A connection for reads (autocommit; each statement sees committed data)."""
        return self.connect()

    def close(self) -> None:
        """Close every thread's connection (at server shutdown); a later use opens anew."""
        self._generation += 1
        self._local.conn = None
        _close_each(self._opened, self._opened_lock, self._close)


def _close_each(opened: list[Any], lock: threading.Lock, close: Callable[[Any], None]) -> None:
    with lock:
        conns = list(opened)
        opened.clear()
    for conn in conns:
        with suppress(Exception):  # closing a broken connection: nothing more to do
            close(conn)
