"""Parquet exports of run history, served to `Run.parquetHistory` readers.

Exports are kept current as history arrives, so reading a finished run needs no export
step: once ``FLUSH_ROWS`` or more lines are unexported they are written as a new immutable
part, from the rows the posts already decoded, by the exporter thread a post hands its
run to (``export_worker``, off the request path), and the run's last post (``complete``)
writes whatever is left before it is answered. Small parts are merged into
one once together they reach ``PART_ROWS`` lines, and at the end of the run (parts whose
columns no single type holds stay apart). A part is written to a staging file and placed
(renamed into the storage dir, or put to the bucket), then recorded in
``history_exports`` in the same transaction as the rows: a killed server leaves at most
an unrecorded file, removed later as an orphan. A run that
ended without a last post (state set by ``upsertBucket``) has its few remaining lines
exported when ``parquetHistory`` is first asked for it.

The parts a run ended with are *sealed*: never merged or replaced afterwards. wandb-core
caches a downloaded part under the run's path and the part's index in ``parquetUrls``
(``{entity}_{project}_{run}_{i}.runhistory.parquet``) and never checks it again, so when a
resumed run merged its new rows into a part readers already had, they kept reading the old
part at that index and lost the new rows. A resumed run's new parts follow the sealed ones
and are merged only with each other.

A run that is still active (``ACTIVE_STATES``) is served with no exports, every row as
``liveData``: wandb-core (0.31) reads a page of steps from the parquet files *and*, once
that page reaches the first live step, from ``history(minStep, maxStep)`` for the whole
page, without dropping the rows it already has, so an export followed by a live tail would
hand its readers duplicate rows. A write that changes exported lines forgets the exports
from the first line it changes on (a re-sent identical chunk changes none), and a write
that makes the steps stop following line order forgets them all (see
``storage.history.store_history``); the next post or read makes them again.

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
switching type within a part: ``1`` then ``"a"``) is not served from parquet at all: its exports are
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

Parts are objects of the store (:mod:`runapi_server.objects`) under
``files/history-exports/<run db id>/`` and are downloaded with
signed URLs (:func:`runapi_server.signing.export_url`):
``GET {base}/storage/history/E/P/R/{file}?grant=K&expires=T&signature=S``, or with a
bucket, the bucket's pre-signed GETs (parts are written to a local staging file, then put
to the bucket; merges read the parts back from it).

```python
urls, live = parquet_history(state, "http://127.0.0.1:8080", run_row, ["_step"])
```
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import history, parquet_tables, runfiles, signing
from runapi_server.jsonresponse import error_response
from runapi_server.lookup import run_for_grant
from runapi_server.objects import BadKey
from runapi_server.ranges import object_response
from runapi_server.state import ServerState
from runapi_server.storage import history_exports as export_store
from runapi_server.storage.connection import Connection
from runapi_server.storage.history import HISTORY, stream_stats
from runapi_server.storage.history_exports import Export as Export

PART_ROWS = 100_000
FLUSH_ROWS = 10_000
EXPORT_DIR = runfiles.HISTORY_EXPORTS_DIR
ORPHAN_AGE_S = 600.0
"""An unrecorded part file is removed once this old: younger ones may be a part another
thread or server process (sharing the storage dir) wrote and is about to record, after
waiting its turn for the write lock; generous, as the file's time may come from another
machine's clock (a network filesystem's)."""
FILE_SUFFIX = ".native.parquet"  # exports of older servers (JSON-text columns) lack it
STOP_PATH = ""  # the path of the stop marker record (see the module docstring)
SEND_CHUNK = 1 << 20  # bytes per write when a part is downloaded
COMPRESSION = "zstd"
"""Part files' codec, at level 1: on number columns as small as level 3 within a few
percent, written about as fast as snappy; every pyarrow wheel has it."""
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
ACTIVE_STATES = frozenset({"running", "pending", "preempting"})


def exports_enabled() -> bool:
    """False when ``RUNAPI_HISTORY_EXPORTS`` is ``0``/``off``/``false``."""
    return os.environ.get("RUNAPI_HISTORY_EXPORTS", "1").lower() not in ("0", "off", "false")


# --------------------------------------------------------------------------- exporting


def list_exports(conn: Connection, run_id: int) -> list[Export]:
    """The run's export files in line order (not the stop marker)."""
    return [e for e in export_store.export_records(conn, run_id) if e.path != STOP_PATH]


def _stale_format(records: Sequence[Export]) -> bool:
    """Whether any export was written in an older format (JSON-text columns)."""
    return any(e.path != STOP_PATH and not e.path.endswith(FILE_SUFFIX) for e in records)


@dataclass(frozen=True)
class _Lines:
    """Up to ``PART_ROWS`` stored lines after the exported ones, and their decoded rows."""

    first: int
    last: int
    texts: list[str]
    rows: list[dict[str, Any]]
    columns: parquet_tables.Columns | None
    rewrites: int | None = None
    """The run's ``rewrites`` count when these texts were the stored ones (None: unknown)."""


def _pending(
    conn: Connection, run_id: int, after: int, chunks: Sequence[history.HistoryChunk], least: int
) -> _Lines | None:
    """The lines after line ``after`` (None when fewer than ``least``), as stored; their
    decoded rows are a post's chunk's when it holds exactly these texts (the usual case,
    no second decode), else the texts decoded with orjson."""
    pending = export_store.count_lines_after(conn, run_id, after)
    if pending == 0 or pending < least:
        return None
    found = export_store.lines_after(conn, run_id, after, PART_ROWS)
    if not found:
        return None
    texts = [text for _, text in found]
    first, last = found[0][0], found[-1][0]
    for chunk in chunks:
        if chunk.rows and chunk.offset == first and chunk.texts == texts:
            return _Lines(first, last, texts, chunk.rows, chunk.columns)
    try:
        decoded = history.decode_lines(HISTORY, 0, texts)
    except history.RowError:  # stored rows were validated; judge them with the stdlib
        decoded = []
    return _Lines(first, last, texts, decoded, None)


def _write_part(state: ServerState, run_id: int, first_line: int, table: Any) -> str:
    """Write ``table`` as a new immutable part file; returns its path (relative to the
    storage dir). Written under a temporary name, then renamed: a part is never seen
    half-written, and one no record names (a crash before the commit) is an orphan. Not
    synced (an fsync per part cost as much as the part): a part only copies rows that
    SQLite holds durably, so one that a power loss left short or missing is found at read
    (`_intact`) and made again from them."""
    import pyarrow.parquet as pq

    name = f"{first_line}-{secrets.token_hex(6)}{FILE_SUFFIX}"
    key = runfiles.exports_prefix(run_id) + name
    tmp = state.store.staging(key)
    try:
        pq.write_table(
            table,
            tmp,
            compression=COMPRESSION,
            compression_level=1,
            use_dictionary=parquet_tables.dictionary_columns(table),
            column_encoding=parquet_tables.column_encodings(table),
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    state.store.place(tmp, key, durable=False)
    return key


def _read_part(state: ServerState, export: Export) -> Any:
    """The part's table (read from its file when the store is a directory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = state.store.local_path(export.path)
    if local is not None:
        return pq.read_table(local)
    content = state.store.read_bytes(export.path)
    if content is None:
        raise FileNotFoundError(f"history export {export.path} is gone")
    return pq.read_table(pa.BufferReader(content))


def _intact(state: ServerState, export: Export) -> bool:
    """Whether the part's file is there and ends with parquet's footer magic."""
    try:
        return state.store.tail(export.path, 4) == b"PAR1"
    except (OSError, BadKey):
        return False


def _record(conn: Connection, run_id: int, first: int, last: int, rows: int, path: str) -> None:
    export_store.record_export(conn, run_id, Export(first, last, rows, path))


def _stop(conn: Connection, run_id: int, line: int) -> None:
    """Line ``line`` holds a value no column holds exactly: the run is served as liveData
    only (see the module docstring); the marker spares re-reading it."""
    export_store.drop_exports(conn, run_id)  # files go with the orphans
    _record(conn, run_id, line, line, 0, STOP_PATH)


def _compact(state: ServerState, conn: Connection, run_id: int, *, final: bool) -> None:
    """Merge the run's trailing small parts (fewer than ``PART_ROWS`` rows each, not
    sealed), when together they first reach ``PART_ROWS`` rows, or at the end of the run
    (``final``): consecutive parts are merged while one table holds them all
    (`merge_tables`), so a key switching type between parts starts a new group, and a
    group that reached ``PART_ROWS`` rows is closed (a part stays one a reader can hold:
    at the end of a fast ingest, hundreds of small parts may be pending)."""
    parts = list_exports(conn, run_id)
    small: list[Export] = []
    for part in reversed(parts):
        if part.row_count >= PART_ROWS or part.sealed:
            break
        small.insert(0, part)
    total = sum(p.row_count for p in small)
    if len(small) < 2:
        return
    if not final and not (total >= PART_ROWS > total - small[-1].row_count):
        return
    groups: list[tuple[list[Export], Any]] = []
    for part in small:
        table = _read_part(state, part)
        open_group = groups and groups[-1][1].num_rows < PART_ROWS
        merged = parquet_tables.merge_tables([groups[-1][1], table]) if open_group else None
        if merged is None:
            groups.append(([part], table))
        else:
            groups[-1] = ([*groups[-1][0], part], merged)
    for members, table in groups:
        if len(members) < 2:
            continue
        first, last = members[0], members[-1]
        path = _write_part(state, run_id, first.first_line, table)
        # files go with the orphans
        export_store.drop_exports_between(conn, run_id, first.first_line, last.first_line)
        rows = sum(m.row_count for m in members)
        _record(conn, run_id, first.first_line, last.last_line, rows, path)


def export_pending(
    state: ServerState,
    conn: Connection,
    run_id: int,
    chunks: Sequence[history.HistoryChunk] = (),
    *,
    final: bool,
) -> None:
    """In the caller's write transaction, export the run's lines not exported yet as new
    parts when ``FLUSH_ROWS`` or more are pending, or whatever is pending when ``final``
    (the run has ended); then merge small parts (see `_compact`). ``chunks`` are the
    post's parsed history chunks, whose decoded rows spare a second decode."""
    if not exports_enabled():
        return
    stats = stream_stats(conn, run_id, HISTORY)
    if not stats.ordered or stats.line_count == 0:
        return
    records = export_store.export_records(conn, run_id)
    if _stale_format(records):
        export_store.drop_exports(conn, run_id)  # files go with the orphans
        records = []
    if any(e.path == STOP_PATH for e in records):
        return
    done = max((e.last_line for e in records), default=-1)
    while True:
        lines = _pending(conn, run_id, done, chunks, 1 if final else FLUSH_ROWS)
        if lines is None:
            break
        table = parquet_tables.exact_table(lines.rows, lines.texts, lines.columns)
        if table.num_rows < len(lines.texts):
            _stop(conn, run_id, export_store.line_at(conn, run_id, lines.first, table.num_rows))
            return
        path = _write_part(state, run_id, lines.first, table)
        _record(conn, run_id, lines.first, lines.last, len(lines.texts), path)
        done = lines.last
        if len(lines.texts) < PART_ROWS:
            break
    _compact(state, conn, run_id, final=final)
    if final:
        export_store.seal_exports(conn, run_id)


def write_part_unlocked(
    state: ServerState,
    run_id: int,
    chunks: Sequence[history.HistoryChunk],
    posted_rewrites: int | None = None,
) -> bool:
    """Write the next part due (``FLUSH_ROWS`` or more lines pending) without holding the
    write lock, then record it in a short write transaction after checking that the
    exports and the lines it copies are still those it read (else the file is left as an
    orphan). ``posted_rewrites``: the run's ``rewrites`` count when the posts of
    ``chunks`` were stored (their earliest). False when no part was recorded (nothing
    due, or the caller should take the locked path: `export_pending`)."""
    if not exports_enabled():
        return False
    read = state.db.read()
    records = export_store.export_records(read, run_id)
    stats = stream_stats(read, run_id, HISTORY)  # read before the lines
    if not stats.ordered or _stale_format(records) or any(e.path == STOP_PATH for e in records):
        return False
    done = max((e.last_line for e in records), default=-1)
    posted = _posted(chunks, done, posted_rewrites)
    if posted is not None and _export_unlocked(state, run_id, records, posted):
        return True
    lines = _pending(read, run_id, done, chunks, FLUSH_ROWS)
    if lines is None:
        return False
    return _export_unlocked(state, run_id, records, replace(lines, rewrites=stats.rewrites))


def _posted(
    chunks: Sequence[history.HistoryChunk], after: int, rewrites: int | None
) -> _Lines | None:
    """The lines of the post's chunk that starts right after line ``after``, when it holds
    ``FLUSH_ROWS`` to ``PART_ROWS`` of them: a part is due, and they need not be read
    back (`_export_unlocked` records the part only if the stored lines are still these;
    a later post may have rewritten them, and then `_pending` reads what is stored)."""
    for chunk in chunks:
        count = len(chunk.texts)
        if chunk.rows and chunk.offset == after + 1 and FLUSH_ROWS <= count <= PART_ROWS:
            last = chunk.offset + count - 1
            return _Lines(chunk.offset, last, chunk.texts, chunk.rows, chunk.columns, rewrites)
    return None


def _export_unlocked(
    state: ServerState, run_id: int, records: Sequence[Export], lines: _Lines
) -> bool:
    """Write ``lines`` as the next part without the write lock, then record it in a short
    write transaction if the exports (``records``) and those lines are still as read; else
    False (the file is left as an orphan). While the run's ``rewrites`` count is the one
    the texts were stored with, no write has changed them since: they are read back and
    compared only when it moved on (or is unknown), which spares reading a part's lines
    under the write lock (23 ms of a 20,000-line part, 1.2 s of exporter time a million
    13-value rows)."""
    table = parquet_tables.exact_table(lines.rows, lines.texts, lines.columns)
    if table.num_rows < len(lines.texts):
        return False
    path = _write_part(state, run_id, lines.first, table)
    with state.db.transaction() as conn:
        if export_store.export_records(conn, run_id) != records:
            return False
        stats = stream_stats(conn, run_id, HISTORY)
        if not stats.ordered:
            return False
        unchanged = stats.line_count > 0 and stats.rewrites == lines.rewrites
        if not unchanged and (
            export_store.row_texts(conn, run_id, lines.first, lines.last) != lines.texts
        ):
            return False
        _record(conn, run_id, lines.first, lines.last, len(lines.texts), path)
    return True


def _due(conn: Connection, run_id: int) -> bool:
    """Whether the run has lines to export (read-only check, no write lock taken)."""
    stats = stream_stats(conn, run_id, HISTORY)
    if not stats.ordered or stats.line_count == 0:
        return False
    records = export_store.export_records(conn, run_id)
    if _stale_format(records):
        return True
    if any(e.path == STOP_PATH for e in records):
        return False
    done = max((e.last_line for e in records), default=-1)
    last = export_store.last_line(conn, run_id)
    return last is not None and last > done


def _remove_orphans(state: ServerState, run_id: int, keep: Sequence[Export]) -> None:
    wanted = {e.path for e in keep}
    cutoff = time.time() - ORPHAN_AGE_S
    for listed in list(state.store.listing(runfiles.exports_prefix(run_id))):
        # Old files only: a concurrent export may have written a file not yet recorded.
        if listed.key not in wanted and listed.modified < cutoff:
            state.store.delete(listed.key)


def ensure_exports(state: ServerState, run_id: int, run_state: str) -> list[Export]:
    """Export what is due (see the module docstring) and return the run's exports."""
    if not exports_enabled() or run_state in ACTIVE_STATES:
        return []
    exports = list_exports(state.db.read(), run_id)
    broken = next((e for e in exports if not _intact(state, e)), None)
    unsealed = any(not e.sealed for e in exports)
    if broken is not None or unsealed or _due(state.db.read(), run_id):
        with state.db.transaction() as conn:
            if broken is not None:  # remade from the rows, from that part on
                export_store.drop_exports(conn, run_id, broken.first_line)
            export_pending(state, conn, run_id, final=True)
    exports = list_exports(state.db.read(), run_id)
    _remove_orphans(state, run_id, exports)
    return exports


def export_url(state: ServerState, base: str, run: Any, export: Export) -> str:
    """The part's download URL: the bucket's pre-signed GET with a bucket, else the
    server's own signed URL."""
    if state.bucket is not None:
        return state.bucket.presigned_get(export.path, signing.DOWNLOAD_TTL_S)
    grant = signing.RunGrant.of(run)
    return signing.export_url(state.secret, base, grant, PurePosixPath(export.path).name)


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


def _find_export(state: ServerState, run_id: int, name: str) -> str | None:
    for export in list_exports(state.db.read(), run_id):
        if PurePosixPath(export.path).name == name:
            return export.path
    return None


def _export_of_grant(state: ServerState, grant: signing.RunGrant, name: str) -> Response:
    run = run_for_grant(state.db.read(), grant)
    if run is None:
        return error_response(signing.RUN_GONE, 403)
    key = _find_export(state, int(run["id"]), name)
    gone = f"history export {name!r} not found (exports changed?)"
    if key is None:
        return error_response(gone, 404)
    local = state.store.local_path(key)
    if local is None:
        return object_response(state.store, key, PARQUET_MEDIA_TYPE, gone)
    if not local.is_file():
        return error_response(gone, 404)
    response = FileResponse(local, media_type=PARQUET_MEDIA_TYPE)
    response.chunk_size = SEND_CHUNK  # parts are large: fewer, larger writes
    return response


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
