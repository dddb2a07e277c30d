"""Parquet exports of run history, served to `Run.parquetHistory` readers.

A run that has ended and whose steps follow its line order is exported in parts of up to
``PART_ROWS`` lines, lazily, when `parquetHistory` is asked for it. A run that is still
active (``ACTIVE_STATES``) is served with no exports, every row as ``liveData``: wandb-core
(0.31) reads a page of steps from the parquet files *and*, once that page reaches the first
live step, from ``history(minStep, maxStep)`` for the whole page, without dropping the rows
it already has, so an export followed by a live tail would hand its readers duplicate rows.
A write that rewrites exported lines, or makes the steps stop following line order, forgets
the exports (see ``history.store_history``).

Every client must read exactly the values that were logged, and wandb-core (wandb >= 0.23,
`scan_history`) turns each parquet cell into JSON with no hint from us: a
``string`` cell stays a string, while ``struct`` cells become objects, ``list`` cells arrays
(``NaN`` / ``Infinity`` and int64 kept at any depth; a whole float reads back as an int, as
for plain ``float64`` columns; ``large_string`` crashes it). So every column is native:

- ints ``int64``; numbers ``float64`` (ints in it only up to 2**53, so they stay exact);
  strings ``string``; booleans ``bool``;
- lists ``list<T>`` of one item type (JSON nulls inside are null items);
- objects ``struct`` when every object of the key has the same key set (at least one key;
  a missing field would read back as a null), nested to any depth.

A missing key is a null cell, so a top-level JSON null cannot be told from a missing key.

A run holding a value no column holds exactly together with the other values of its part
(a top-level null, an empty object, objects of one key with differing key sets, a key
switching type: ``1`` then ``"a"``) is not served from parquet at all: its exports are
forgotten, a stop marker is stored (a ``history_exports`` record with path ``""`` and no
rows, first_line = last_line = that line, so a write that rewrites it forgets the marker
too) and every row is ``liveData``, which clients page over GraphQL and read exactly. Why
not export up to that line: wandb-core (0.31) reads a page of steps from the parquet
files *and* from ``history(minStep, maxStep)`` for the whole page once the page reaches
the first live step, so rows of that page before the live boundary would come twice. The
trade-off: such a run's ``liveData`` is one response holding all its rows (``_step``
only for the usual ``liveKeys``), and its scans page over GraphQL as before exports.
Exports written by an older server (JSON-text columns, files without the
``.native.parquet`` suffix) are forgotten and made anew. Set ``RUNAPI_HISTORY_EXPORTS=0``
in the server's environment to switch exports off.

Files live under ``<data_dir>/files/history-exports/<run db id>/`` and are downloaded with
signed URLs (:func:`runapi_server.signing.export_url`):
``GET {base}/storage/history/E/P/R/{file}?grant=K&expires=T&signature=S``.

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

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import history, runfiles, signing
from runapi_server.jsonresponse import error_response
from runapi_server.lookup import run_for_grant
from runapi_server.state import ServerState

PART_ROWS = 100_000
EXPORT_DIR = runfiles.HISTORY_EXPORTS_DIR
ORPHAN_AGE_S = 60.0
FILE_SUFFIX = ".native.parquet"  # exports of older servers (JSON-text columns) lack it
STOP_PATH = ""  # the path of the stop marker record (see the module docstring)
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


class _Unfit(Exception):
    """A value that no single arrow type holds exactly together with the values before it."""


@dataclass(frozen=True)
class _List:
    item: Shape | None  # None: no item seen yet


@dataclass(frozen=True)
class _Struct:
    fields: tuple[tuple[str, Shape | None], ...]  # in order of first appearance
    names: frozenset[str]


# Scalars: "null" (JSON null, nested values only), "bool", "int" (|v| <= 2**53, so a
# float64 holds it exactly), "bigint" (int64 only), "float", "str".
Shape = str | _List | _Struct
_SCALAR_KIND: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
}
_NUMBER_MERGE = {
    frozenset({"int", "float"}): "float",
    frozenset({"int", "bigint"}): "bigint",
}


def _int_kind(value: int) -> str:
    if -_FLOAT_EXACT <= value <= _FLOAT_EXACT:
        return "int"
    if -_INT_LIMIT <= value < _INT_LIMIT:
        return "bigint"
    raise _Unfit


def _merge_kind(shape: Shape | None, kind: str) -> Shape:
    """``shape`` widened to also hold a scalar of ``kind``."""
    if shape is None or shape == "null" or shape == kind:
        return kind
    if kind == "null":
        return shape
    if isinstance(shape, str):
        merged = _NUMBER_MERGE.get(frozenset({shape, kind}))
        if merged is not None:
            return merged
    raise _Unfit


def _merge(shape: Shape | None, value: Any) -> Shape:
    """``shape`` widened to also hold ``value`` exactly; raises `_Unfit` when none does."""
    kind = _SCALAR_KIND.get(type(value))
    if kind == "int":
        return _merge_kind(shape, _int_kind(value))
    if kind is not None:
        return _merge_kind(shape, kind)
    if type(value) is list:
        if shape is not None and shape != "null" and not isinstance(shape, _List):
            raise _Unfit
        item = shape.item if isinstance(shape, _List) else None
        kinds = set(map(type, value))
        if kinds <= _SCALAR_KIND.keys():  # fast path: a list of scalars
            for t in kinds:
                if t is int:
                    ints = value if len(kinds) == 1 else [v for v in value if type(v) is int]
                    item = _merge_kind(
                        _merge_kind(item, _int_kind(min(ints))), _int_kind(max(ints))
                    )
                else:
                    item = _merge_kind(item, _SCALAR_KIND[t])
        else:
            for v in value:
                item = _merge(item, v)
        return _List(item)
    if type(value) is dict:
        if not value:  # a struct needs at least one field to be written
            raise _Unfit
        if shape is None or shape == "null":
            fields = tuple((name, _merge(None, v)) for name, v in value.items())
            return _Struct(fields, frozenset(value))
        if not isinstance(shape, _Struct) or value.keys() != shape.names:
            raise _Unfit  # a missing field would read back as a null
        fields = tuple((name, _merge(s, value[name])) for name, s in shape.fields)
        return _Struct(fields, shape.names)
    raise _Unfit


def _fit(values: Sequence[Any]) -> tuple[int, Shape | None]:
    """How many of one key's leading values (`MISSING` where a row lacks the key) one
    column holds exactly, and their shape. A JSON null at the top level would read back
    like a missing key, so it does not fit."""
    kinds = set(map(type, values))
    kinds.discard(_Missing)
    if len(kinds) <= 1 and kinds <= {bool, float, str}:  # fast paths: plain scalars
        return len(values), (_SCALAR_KIND[kinds.pop()] if kinds else None)
    if int in kinds and kinds <= {int, float}:
        ints = [v for v in values if type(v) is int]
        try:
            low, high = _int_kind(min(ints)), _int_kind(max(ints))
        except _Unfit:
            pass
        else:
            if float not in kinds:
                return len(values), "int" if low == high == "int" else "bigint"
            if low == high == "int":
                return len(values), "float"
    shape: Shape | None = None
    for index, value in enumerate(values):
        if value is MISSING:
            continue
        if value is None:
            return index, shape
        try:
            shape = _merge(shape, value)
        except _Unfit:
            return index, shape
    return len(values), shape


def _arrow_type(shape: Shape | None) -> Any:
    import pyarrow as pa

    if isinstance(shape, _List):
        return pa.list_(_arrow_type(shape.item))
    if isinstance(shape, _Struct):
        return pa.struct([pa.field(name, _arrow_type(s)) for name, s in shape.fields])
    return {
        None: pa.null(),
        "null": pa.null(),
        "bool": pa.bool_(),
        "int": pa.int64(),
        "bigint": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
    }[shape]


def _column(values: Sequence[Any], shape: Shape | None) -> Any:
    """The arrow array of one key's values (`MISSING`: a null), all of ``shape``."""
    import pyarrow as pa

    plain = [None if v is MISSING else v for v in values]
    return pa.array(plain, type=_arrow_type(shape))


def _columns(rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], list[Sequence[Any]]]:
    """Key names in order of appearance and each key's values (`MISSING` where absent)."""
    shapes = dict.fromkeys(map(tuple, rows))
    if len(shapes) == 1:
        (names,) = shapes
        return names, list(zip(*map(dict.values, rows), strict=True))
    names = tuple(dict.fromkeys(key for shape in shapes for key in shape))
    return names, [[row.get(name, MISSING) for row in rows] for name in names]


def rows_table(texts: Sequence[str]) -> Any:
    """A `pyarrow.Table` of the longest run of leading history rows (stored JSON texts)
    that native columns hold exactly, columns in order of appearance (see the module
    docstring); it has no rows when even the first row does not fit.

    ```python
    rows_table(['{"_step": 0, "h": {"bins": [0, 1]}}', '{"_step": 1}']).num_rows  # -> 2
    rows_table(['{"_step": 0, "x": 1}', '{"_step": 1, "x": "a"}']).num_rows  # -> 1
    ```
    """
    import pyarrow as pa

    rows: list[dict[str, Any]] = json.loads("[" + ",".join(texts) + "]")
    names, columns = _columns(rows)
    fits = [_fit(values) for values in columns]
    fitting = min((count for count, _ in fits), default=len(rows))
    if fitting < len(rows):
        rows = rows[:fitting]
        names, columns = _columns(rows)
        fits = [_fit(values) for values in columns]
    arrays = [_column(values, shape) for values, (_, shape) in zip(columns, fits, strict=True)]
    schema = pa.schema(
        [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)]
    )
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- exporting


def _list_records(conn: Any, run_id: int) -> list[Export]:
    """Every ``history_exports`` record of the run, stop marker included."""
    return [
        Export(int(r[0]), int(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute(
            "SELECT first_line, last_line, row_count, path FROM history_exports"
            " WHERE run_id = ? ORDER BY first_line",
            (run_id,),
        )
    ]


def list_exports(conn: Any, run_id: int) -> list[Export]:
    """The run's export files in line order (not the stop marker)."""
    return [e for e in _list_records(conn, run_id) if e.path != STOP_PATH]


def _stale_format(records: Sequence[Export]) -> bool:
    """Whether any export was written in an older format (JSON-text columns)."""
    return any(e.path != STOP_PATH and not e.path.endswith(FILE_SUFFIX) for e in records)


def _export_part(state: ServerState, run_id: int, minimum: int) -> bool:
    """Export the next part of the run if due; False when nothing (more) is due."""
    import pyarrow.parquet as pq

    with state.db.transaction() as conn:
        stats = history.stream_stats(conn, run_id, history.HISTORY)
        if not stats.ordered or stats.line_count == 0:
            return False
        records = _list_records(conn, run_id)
        if _stale_format(records):
            history.drop_exports(conn, run_id)  # files go with the orphans
            records = []
        if any(e.path == STOP_PATH for e in records):
            return False
        done = max((e.last_line for e in records), default=None)
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
        table = rows_table([r[1] for r in rows])
        if table.num_rows < len(rows):
            # Line ``stop`` holds a value no column holds exactly: the run is served as
            # liveData only (see the module docstring); the marker spares re-reading it.
            stop = int(rows[table.num_rows][0])
            history.drop_exports(conn, run_id)  # files go with the orphans
            conn.execute(
                "INSERT INTO history_exports"
                " (run_id, first_line, last_line, row_count, path) VALUES (?, ?, ?, 0, ?)",
                (run_id, stop, stop, STOP_PATH),
            )
            return False
        first_line, last_line = int(rows[0][0]), int(rows[-1][0])
        name = f"{first_line}-{secrets.token_hex(6)}{FILE_SUFFIX}"
        relative = Path("files", EXPORT_DIR, str(run_id), name)
        final = state.data_dir / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(name + ".tmp")
        pq.write_table(table, tmp, compression="snappy")
        tmp.replace(final)
        conn.execute(
            "INSERT OR REPLACE INTO history_exports"
            " (run_id, first_line, last_line, row_count, path) VALUES (?, ?, ?, ?, ?)",
            (run_id, first_line, last_line, len(rows), str(relative)),
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
    if not exports_enabled() or run_state in ACTIVE_STATES:
        return []
    while _export_part(state, run_id, 1):
        pass
    exports = list_exports(state.db.read(), run_id)
    _remove_orphans(state, run_id, exports)
    return exports


def export_url(state: ServerState, base: str, run: Any, export: Export) -> str:
    grant = signing.RunGrant.of(run)
    return signing.export_url(state.secret, base, grant, Path(export.path).name)


def parquet_history(
    state: ServerState, base: str, run: Any, live_keys: Sequence[str]
) -> dict[str, Any]:
    """The `ParquetHistory` of ``run`` (a runs row): export URLs and the live rows."""
    run_id = int(run["id"])
    exports = ensure_exports(state, run_id, str(run["state"]))
    after = exports[-1].last_line if exports else None
    rows = history.live_rows(state.db.read(), run_id, live_keys, after_line=after)
    return {
        "parquetUrls": [export_url(state, base, run, e) for e in exports],
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


def _export_of_grant(state: ServerState, grant: signing.RunGrant, name: str) -> Response:
    run = run_for_grant(state.db.read(), grant)
    if run is None:
        return error_response(signing.RUN_GONE, 403)
    path = _find_export(state, int(run["id"]), name)
    if path is None:
        return error_response(f"history export {name!r} not found (exports changed?)", 404)
    return FileResponse(path, media_type="application/vnd.apache.parquet")


async def download_export(request: Request) -> Response:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    params = {key: str(value) for key, value in request.path_params.items()}
    query = dict(request.query_params)
    grant = signing.RunGrant.from_request(params, query)
    name = params["name"]
    refused = signing.check_run_url(state.secret, signing.HISTORY_EXPORT, grant, name, query)
    if refused:
        return error_response(refused, 403)
    response: Response = await run_in_threadpool(_export_of_grant, state, grant, name)
    return response


ROUTES: list[BaseRoute] = [
    Route("/storage/history/{entity}/{project}/{run}/{name}", download_export, methods=["GET"]),
]
