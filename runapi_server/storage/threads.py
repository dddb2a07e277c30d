"""A connection per server thread, what both backends keep: opened on first use (and again
when the backend finds it unusable), the first one bringing the schema up to date.

```python
class MyDatabase(PerThreadConnections[MyConnection]):
    def _open(self) -> MyConnection: ...
```
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from runapi_server.storage import migrations
from runapi_server.storage.connection import Connection

C = TypeVar("C", bound=Connection)


class PerThreadConnections(Generic[C]):
    """The calling thread's connection of one database (see the module docstring)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._upgrade_lock = threading.Lock()
        self._upgraded = False

    @property
    def description(self) -> str:
        raise NotImplementedError

    def _open(self) -> C:
        """A new connection (autocommit)."""
        raise NotImplementedError

    def _usable(self, conn: C) -> bool:
        """Whether the thread's connection can still be used (else it is opened again)."""
        return True

    def _close(self, conn: C) -> None:
        raise NotImplementedError

    def connect(self) -> C:
        """The calling thread's connection. The first connection of this object brings
        the schema up to date (:func:`runapi_server.storage.migrations.upgrade`); a
        database from a newer runapi raises
        :class:`runapi_server.storage.migrations.SchemaTooNew`."""
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or not self._usable(conn):
            conn = self._open()
            with self._upgrade_lock:
                if not self._upgraded:
                    try:
                        migrations.upgrade(conn, self.description)
                    except BaseException:
                        self._close(conn)
                        raise
                    self._upgraded = True
            self._local.conn = conn
        return conn

    def read(self) -> C:
        """A connection for reads (autocommit; each statement sees committed data)."""
        return self.connect()

    def close(self) -> None:
        """Close the calling thread's connection (the next use opens a new one)."""
        conn: C | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._close(conn)
            self._local.conn = None
