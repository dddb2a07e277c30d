"""Parquet exports of run history, served to `Run.parquetHistory` readers.

A run whose steps follow its line order is exported in parts of up to ``PART_ROWS`` lines,
lazily: when `parquetHistory` is asked for a run with at least ``EXPORT_MIN_ROWS``
unexported rows, or with any unexported rows once the run has ended. Rows after the last
export are the live tail (``liveData``). A write that rewrites exported lines, or makes the
steps stop following line order, forgets the exports (see ``history.store_history``).

Column types: a key whose values are all ints is ``int64``, all numbers ``float64``
(``NaN`` / ``Infinity`` kept), all strings ``string``, all booleans ``bool``; any other key
(nested objects, lists, nulls, mixed types) is a ``string`` column of JSON texts, listed in
the schema metadata ``runapi.json_columns``. A missing key is a null. Set
``RUNAPI_HISTORY_EXPORTS=0`` in the server's environment to switch exports off.

Files live under ``<data_dir>/files/history-exports/<run db id>/`` and are downloaded with
signed URLs, ``GET {base}/storage/history/{run db id}/{file}?expires=T&signature=S``.

```python
urls, live = parquet_history(state, "http://127.0.0.1:8080", run_row, ["_step"])
```
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import history, signing
from runapi_server.jsonresponse import error_response
from runapi_server.state import ServerState

EXPORT_MIN_ROWS = 10_000
PART_ROWS = 100_000
EXPORT_DIR = "history-exports"
JSON_COLUMNS_KEY = b"runapi.json_columns"
SIGN_METHOD = "GET-HISTORY-EXPORT"
ORPHAN_AGE_S = 60.0
ACTIVE_STATES = frozenset({"running", "pending", "preempting"})
_INT_LIMIT = 2**63
_FLOAT_EXACT = 2**53


class _Missing:
    """Marks a key a row does not have (distinct from a JSON null)."""


MISSING = _Missing()


@dataclass(frozen=True)
class Export:
    first_line: int
    last_line: int
    row_count: int
    path: str  # relative to the data dir


def exports_enabled() -> bool:
    """False when ``RUNAPI_HISTORY_EXPORTS`` is ``0``/``off``/``false``."""
    return os.environ.get("RUNAPI_HISTORY_EXPORTS", "1").lower() not in ("0", "off", "false")


# --------------------------------------------------------------------------- building


def _column(values: Sequence[Any]) -> tuple[Any, bool]:
    """An arrow array for one key's values, and whether it holds JSON texts."""
    import pyarrow as pa

    kinds = set(map(type, values))
    has_missing = _Missing in kinds
    kinds.discard(_Missing)
    plain = [None if v is MISSING else v for v in values] if has_missing else list(values)
    present: list[Any] = [v for v in plain if v is not None] if has_missing else plain
    if kinds == {int}:
        if min(present) >= -_INT_LIMIT and max(present) < _INT_LIMIT:
            return pa.array(plain, type=pa.int64()), False
    elif kinds == {float} or kinds == {int, float}:
        ints = [v for v in present if type(v) is int]
        if all(-_FLOAT_EXACT <= v <= _FLOAT_EXACT for v in ints):
            return pa.array(plain, type=pa.float64()), False
    elif kinds == {str}:
        return pa.array(plain, type=pa.string()), False
    elif kinds == {bool}:
        return pa.array(plain, type=pa.bool_()), False
    texts = [None if v is MISSING else json.dumps(v) for v in values]
    return pa.array(texts, type=pa.string()), True


def rows_table(texts: Sequence[str]) -> Any:
    """A `pyarrow.Table` of history rows (stored JSON texts), columns in order of appearance.

    ```python
    rows_table(['{"_step": 0, "loss": NaN}', '{"_step": 1}']).num_rows  # -> 2
    ```
    """
    import pyarrow as pa

    rows: list[dict[str, Any]] = json.loads("[" + ",".join(texts) + "]")
    shapes = dict.fromkeys(map(tuple, rows))
    if len(shapes) == 1:
        (names,) = shapes
        columns: list[Sequence[Any]] = list(zip(*map(dict.values, rows), strict=True))
        if not columns:
            columns = [[] for _ in names]
    else:
        names = tuple(dict.fromkeys(key for shape in shapes for key in shape))
        columns = [[row.get(name, MISSING) for row in rows] for name in names]
    arrays, json_columns = [], []
    for name, values in zip(names, columns, strict=True):
        array, is_json = _column(values)
        arrays.append(array)
        if is_json:
            json_columns.append(name)
    schema = pa.schema(
        [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)],
        metadata={JSON_COLUMNS_KEY: json.dumps(json_columns).encode()},
    )
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- exporting


def list_exports(conn: Any, run_id: int) -> list[Export]:
    return [
        Export(int(r[0]), int(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute(
            "SELECT first_line, last_line, row_count, path FROM history_exports"
            " WHERE run_id = ? ORDER BY first_line",
            (run_id,),
        )
    ]


def _export_part(state: ServerState, run_id: int, minimum: int) -> bool:
    """Export the next part of the run if due; False when nothing (more) is due."""
    import pyarrow.parquet as pq

    with state.db.transaction() as conn:
        stats = history.stream_stats(conn, run_id, history.HISTORY)
        if not stats.ordered or stats.line_count == 0:
            return False
        done = history.exported_through(conn, run_id)
        (last,) = conn.execute(
            "SELECT max(line_no) FROM history WHERE run_id = ?", (run_id,)
        ).fetchone()
        (pending,) = conn.execute(
            "SELECT count(*) FROM history WHERE run_id = ? AND line_no > ?",
            (run_id, -1 if done is None else done),
        ).fetchone()
        if pending == 0 or pending < minimum:
            return False
        start = -1 if done is None else done
        rows = conn.execute(
            "SELECT line_no, row FROM history WHERE run_id = ? AND line_no > ?"
            " ORDER BY line_no LIMIT ?",
            (run_id, start, PART_ROWS),
        ).fetchall()
        first_line, last_line = int(rows[0][0]), int(rows[-1][0])
        table = rows_table([r[1] for r in rows])
        relative = Path("files", EXPORT_DIR, str(run_id), f"{first_line}-{secrets.token_hex(6)}")
        final = state.data_dir / relative.with_suffix(".parquet")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="snappy")
        tmp.replace(final)
        conn.execute(
            "INSERT OR REPLACE INTO history_exports"
            " (run_id, first_line, last_line, row_count, path) VALUES (?, ?, ?, ?, ?)",
            (run_id, first_line, last_line, len(rows), str(relative.with_suffix(".parquet"))),
        )
        return bool(last_line < last)


def _remove_orphans(state: ServerState, run_id: int, keep: Sequence[Export]) -> None:
    folder = state.files_dir / EXPORT_DIR / str(run_id)
    if not folder.is_dir():
        return
    wanted = {Path(e.path).name for e in keep}
    for path in folder.iterdir():
        # Old files only: a concurrent export may have written a file not yet recorded.
        if path.name not in wanted and time.time() - path.stat().st_mtime > ORPHAN_AGE_S:
            path.unlink(missing_ok=True)


def ensure_exports(state: ServerState, run_id: int, run_state: str) -> list[Export]:
    """Export what is due (see the module docstring) and return the run's exports."""
    if not exports_enabled():
        return []
    minimum = EXPORT_MIN_ROWS if run_state in ACTIVE_STATES else 1
    while _export_part(state, run_id, minimum):
        minimum = 1
    exports = list_exports(state.db.read(), run_id)
    _remove_orphans(state, run_id, exports)
    return exports


def export_url(state: ServerState, base: str, run_id: int, export: Export) -> str:
    name = Path(export.path).name
    expires = int(time.time()) + signing.DOWNLOAD_TTL_S
    sig = signing.signature(state.secret, SIGN_METHOD, run_id, name, expires)
    return f"{base}/storage/history/{run_id}/{quote(name)}?expires={expires}&signature={sig}"


def parquet_history(
    state: ServerState, base: str, run: Any, live_keys: Sequence[str]
) -> dict[str, Any]:
    """The `ParquetHistory` of ``run`` (a runs row): export URLs and the live rows."""
    run_id = int(run["id"])
    exports = ensure_exports(state, run_id, str(run["state"]))
    after = exports[-1].last_line if exports else None
    rows = history.live_rows(state.db.read(), run_id, live_keys, after_line=after)
    return {
        "parquetUrls": [export_url(state, base, run_id, e) for e in exports],
        "liveData": rows,
    }


# --------------------------------------------------------------------------- serving


def _find_export(state: ServerState, run_id: int, name: str) -> Path | None:
    for export in list_exports(state.db.read(), run_id):
        if Path(export.path).name == name:
            path = (state.data_dir / export.path).resolve()
            if path.is_relative_to(state.files_dir) and path.is_file():
                return path
    return None


async def download_export(request: Request) -> Response:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    run_id = int(request.path_params["run_db_id"])
    name = str(request.path_params["name"])
    refused = signing.verify(
        state.secret,
        SIGN_METHOD,
        run_id,
        name,
        request.query_params.get("expires"),
        request.query_params.get("signature"),
    )
    if refused:
        return error_response(refused, 403)
    path = await run_in_threadpool(_find_export, state, run_id, name)
    if path is None:
        return error_response(f"history export {name!r} not found (exports changed?)", 404)
    return FileResponse(path, media_type="application/vnd.apache.parquet")


ROUTES: list[BaseRoute] = [
    Route("/storage/history/{run_db_id:int}/{name}", download_export, methods=["GET"]),
]
