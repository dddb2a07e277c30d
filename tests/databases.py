"""Which database the tests' server processes share: the one switch for the suite.

`server_database_url()` is None today: servers use the SQLite file of their data dir
(several processes on one data dir share it; WAL lets them). When the PostgreSQL backend's
test fixtures land, it returns a fresh PostgreSQL database's URL when
`RUNAPI_TEST_DATABASE` is set, and every test written against it runs there unchanged.

```python
url = server_database_url()
serve = ["serve", "--data-dir", str(data_dir), *serve_database_args(url)]
```
"""

from __future__ import annotations


def server_database_url() -> str | None:
    """The database URL for one group of server processes (None: the data dir's SQLite)."""
    return None


def serve_database_args(url: str | None) -> list[str]:
    """The `runapi serve` options that point a server at `url` (none for SQLite)."""
    return [] if url is None else ["--database", url]
