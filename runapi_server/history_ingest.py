"""Storing a post's history lines while they are parsed: the parse of one part of the
lines overlaps the insert of the part before, inside the post's one write transaction.

The lines are cut into parts of :data:`PART` lines (the first shorter). The request
thread parses part ``k + 1`` (:func:`~runapi_server.history_parse.parse_history`:
decoding, validation, columns) while one inserter thread runs the insert of part ``k``:
one statement a part (:func:`~runapi_server.storage.history.prepare_insert`), which the
backend runs without Python's lock, so the two share the machine's cores. The connection
is used by one thread at a time: the request thread waits for part ``k``'s insert before
it interns part ``k + 1``'s key sets and hands its insert over.

All of it happens in the post's transaction: a bad line anywhere raises
:class:`~runapi_server.history_parse.RowError` (the same error as parsing all the lines
at once: they are parsed whole again to name it), the transaction rolls back and nothing
of the post is stored. Only with one writer at a time (SQLite): writers that run
together could intern shared key sets in other orders and wait on each other.

```python
with db.transaction() as conn:
    parts = store_parsing(conn, run_id, "wandb-history.jsonl", 0, lines)
```
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from threading import Event

from runapi_server.history_parse import HistoryChunk, RowError, gc_paused, parse_history
from runapi_server.storage import history as history_store
from runapi_server.storage.connection import Connection, Dialect

PART = 2_500
"""Lines a part; the first has :data:`FIRST_PART` (its parse is not overlapped: the
inserts start sooner), the last what is left (its insert is not overlapped)."""
FIRST_PART = 1_000

_inserter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runapi-history-insert")


def worth_parts(dialect: Dialect, lines: int) -> bool:
    """Whether ``lines`` history lines are stored in overlapping parts (:func:`store_parsing`)
    on a database of ``dialect``."""
    return dialect.one_writer and lines >= 2 * PART


def _run(conn: Connection, insert: history_store.RowsInsert, started: Event) -> None:
    started.set()
    history_store.run_insert(conn, insert)


def store_parsing(
    conn: Connection, run_id: int, file_name: str, offset: int, content: list[str]
) -> list[HistoryChunk]:
    """Parse and store history lines ``content`` from line ``offset`` in parts (see
    the module); the parts as parsed (``export_worker.joined`` makes them one chunk)."""
    write = history_store.begin_history(conn, run_id, offset, len(content))
    parts: list[HistoryChunk] = []
    try:
        with gc_paused():  # one collection after the parts, not one a part (see gc_paused)
            _store_parts(conn, write, file_name, offset, content, parts)
    except RowError:
        parse_history(file_name, offset, content)  # the first bad line, as parsed whole
        raise
    history_store.finish_history(conn, write, _whole(offset, content, parts))
    return parts


def _store_parts(
    conn: Connection,
    write: history_store.HistoryWrite,
    file_name: str,
    offset: int,
    content: list[str],
    parts: list[HistoryChunk],
) -> None:
    running: Future[None] | None = None
    try:
        for start, stop in _bounds(len(content)):
            part = parse_history(file_name, offset + start, content[start:stop])
            parts.append(part)
            if running is not None:
                running.result()
                running = None
            history_store.intern_keysets(conn, write, part)
            insert = history_store.prepare_insert(conn.dialect, write, part)
            started = Event()
            running = _inserter.submit(_run, conn, insert, started)
            # Until the insert runs without Python's lock, this thread lets it have the
            # lock; else parsing holds it and the insert waits for a forced switch (5 ms).
            started.wait()
        if running is not None:
            running.result()
            running = None
    finally:
        if running is not None:  # a part failed: the connection is free again first
            running.exception()


def _bounds(lines: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each part of ``lines`` lines."""
    starts = [0, *range(FIRST_PART, lines, PART)]
    return list(zip(starts, [*starts[1:], lines], strict=True))


def _whole(offset: int, content: list[str], parts: list[HistoryChunk]) -> HistoryChunk:
    """The lines of ``parts`` as one chunk, without their decoded rows and columns
    (what the counters need)."""
    type_counts: Counter[tuple[str, str]] = Counter()
    for part in parts:
        type_counts.update(part.type_counts)
    return HistoryChunk(
        offset=offset,
        steps=list(chain.from_iterable(part.steps for part in parts)),
        keys=list(chain.from_iterable(part.keys for part in parts)),
        texts=content,
        type_counts=type_counts,
    )
