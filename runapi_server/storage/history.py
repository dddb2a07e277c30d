"""History and system-metrics (events) rows and their per-run counters.

Tables: ``history``, ``events``, ``keysets``, ``stream_stats``, ``history_keyset_counts``,
``history_key_types`` (the export records, ``history_exports``, are in
:mod:`runapi_server.storage.history_exports`).

Rows are stored as sent, keyed by ``(run_id, line_no)`` so a re-sent chunk overwrites
itself. Each history row also keeps its step and its key set (interned in ``keysets``),
and the counters are maintained on every write, so that counts, ``historyKeys`` and the
last step never scan a run's rows, and sampling fetches only the rows it keeps: while a
run's steps follow line order and its line numbers have no gaps (the normal case),
position ``p`` of a step window is line ``first_line + p`` (primary-key lookups);
otherwise a window function numbers the window's rows on the step index.

Functions (a :class:`Connection` first): writes :func:`store_history` (or in parts:
:func:`begin_history`, then :func:`intern_keysets`, :func:`prepare_insert` and
:func:`run_insert` a part, then :func:`finish_history`), :func:`store_events`; reads
:func:`stream_stats`, :func:`history_rows`, :func:`run_keysets`, :func:`event_rows`,
:func:`last_step`, :func:`key_type_counts`, :func:`history_tail`, :func:`events_tail`,
:func:`row_batches`.
Reads hand back plain row texts (``Result.tuples()`` / ``batches()``): these are the hot
paths.

```python
with db.transaction() as conn:
    store_history(conn, run_id, parse_history("wandb-history.jsonl", 0, ['{"_step": 0}']))
history_rows(db.read(), run_id, samples=500)  # -> ['{"_step": 0}']
```
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from runapi_server.history_parse import EventLine, HistoryChunk, value_type
from runapi_server.history_sampling import sample_positions, step_bounds
from runapi_server.storage.connection import Connection, Dialect
from runapi_server.storage.history_exports import drop_exports, exported_through

TAIL_ROWS = 10
HISTORY = "history"
EVENTS = "events"


@dataclass(frozen=True)
class StreamStats:
    line_count: int
    ordered: bool
    rewrites: int = 0
    """Writes that changed lines already stored (never goes down; see `finish_history`)."""


# --------------------------------------------------------------------------- writing


def stream_stats(conn: Connection, run_id: int, stream: str) -> StreamStats:
    """The counters of ``history`` or ``events`` (zero lines, ordered, when none)."""
    row = conn.execute(
        "SELECT line_count, ordered, rewrites FROM stream_stats WHERE run_id = ? AND stream = ?",
        (run_id, stream),
    ).first()
    if row is None:
        return StreamStats(line_count=0, ordered=True)
    return StreamStats(line_count=row[0], ordered=bool(row[1]), rewrites=row[2])


def _save_stats(conn: Connection, run_id: int, stream: str, stats: StreamStats) -> None:
    conn.execute(
        "INSERT INTO stream_stats (run_id, stream, line_count, ordered, rewrites)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, stream) DO UPDATE"
        " SET line_count = excluded.line_count, ordered = excluded.ordered,"
        " rewrites = excluded.rewrites",
        (run_id, stream, stats.line_count, int(stats.ordered), stats.rewrites),
    )


def _intern_keysets(conn: Connection, keysets: Iterable[str]) -> dict[str, int]:
    ids = {}
    for keys in sorted(set(keysets)):  # one order: concurrent writers of runs never deadlock
        conn.execute("INSERT INTO keysets (keys) VALUES (?) ON CONFLICT (keys) DO NOTHING", (keys,))
        ids[keys] = conn.execute("SELECT id FROM keysets WHERE keys = ?", (keys,)).one()[0]
    return ids


def _chunk_ordered(conn: Connection, run_id: int, chunk: HistoryChunk) -> bool:
    steps = chunk.steps
    if steps != sorted(steps):
        return False
    first, last = chunk.offset, chunk.offset + len(steps) - 1
    before = conn.execute(
        "SELECT step FROM history WHERE run_id = ? AND line_no < ? ORDER BY line_no DESC LIMIT 1",
        (run_id, first),
    ).first()
    after = conn.execute(
        "SELECT step FROM history WHERE run_id = ? AND line_no > ? ORDER BY line_no LIMIT 1",
        (run_id, last),
    ).first()
    return (before is None or before[0] <= steps[0]) and (after is None or after[0] >= steps[-1])


def _drop_stale_exports(
    conn: Connection,
    run_id: int,
    chunk: HistoryChunk,
    old: Mapping[int, str],
    ordered: bool,
) -> None:
    """Forget the exports the chunk makes stale: all of them when the steps stop
    following line order, else those from the first line the chunk changes."""
    exported = exported_through(conn, run_id)
    if exported is None:
        return
    if not ordered:
        drop_exports(conn, run_id)
        return
    if chunk.offset > exported:
        return
    changed = (
        line for line, text in enumerate(chunk.texts, start=chunk.offset) if old.get(line) != text
    )
    line = next(changed, None)
    if line is not None and line <= exported:
        drop_exports(conn, run_id, line)


def _add_counts(
    conn: Connection,
    run_id: int,
    keysets: Mapping[int, int],
    types: Mapping[tuple[str, str], int],
) -> None:
    conn.executemany(
        "INSERT INTO history_keyset_counts (run_id, keyset_id, row_count) VALUES (?, ?, ?)"
        " ON CONFLICT (run_id, keyset_id) DO UPDATE"
        " SET row_count = history_keyset_counts.row_count + excluded.row_count",
        [(run_id, keyset_id, n) for keyset_id, n in keysets.items() if n],
    )
    conn.executemany(
        "INSERT INTO history_key_types (run_id, key, type, row_count) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id, key, type) DO UPDATE"
        " SET row_count = history_key_types.row_count + excluded.row_count",
        [(run_id, key, kind, n) for (key, kind), n in types.items() if n],
    )


@dataclass
class HistoryWrite:
    """A write of history lines ``first .. first + count - 1`` in progress
    (:func:`begin_history`): what those lines held before, read before any is replaced."""

    run_id: int
    first: int
    count: int
    old: list[tuple[int, int, str]]  # (line_no, keyset_id, row) of the replaced lines
    keyset_ids: dict[str, int] = field(default_factory=dict)  # interned so far


def begin_history(conn: Connection, run_id: int, first: int, count: int) -> HistoryWrite:
    """Start writing ``count`` history lines from line ``first`` (in parts, in line
    order, with :func:`insert_history`; then :func:`finish_history`)."""
    old = conn.execute(
        "SELECT line_no, keyset_id, row FROM history WHERE run_id = ? AND line_no BETWEEN ? AND ?",
        (run_id, first, first + count - 1),
    ).tuples()
    return HistoryWrite(run_id=run_id, first=first, count=count, old=old)


def intern_keysets(conn: Connection, write: HistoryWrite, chunk: HistoryChunk) -> None:
    """Intern the key sets of ``chunk`` (a part of ``write``) not interned yet."""
    new = set(chunk.keys).difference(write.keyset_ids)
    if new:
        write.keyset_ids.update(_intern_keysets(conn, new))


@dataclass(frozen=True)
class RowsInsert:
    """One INSERT of a part's rows, ready to run (:func:`prepare_insert`, :func:`run_insert`)."""

    sql: str
    params: tuple[object, ...]


def run_insert(conn: Connection, insert: RowsInsert) -> None:
    """Run ``insert`` (in the write transaction it was prepared for)."""
    conn.execute(insert.sql, insert.params)


def prepare_insert(dialect: Dialect, write: HistoryWrite, chunk: HistoryChunk) -> RowsInsert:
    """The statement that inserts ``chunk``'s rows (a part of ``write``, its key sets
    interned): one INSERT of all of them, bound as few parameters, which the backend runs
    without Python's lock (so parsing the next part goes on meanwhile).

    While the chunk's steps follow its line numbers one by one (the usual case), each
    row's step and line number come from its position, and its key set from the list
    of rows of that key set it is in (up to a few key sets); else every row's step and
    key set are sent too."""
    insert = "INSERT INTO history (run_id, line_no, step, keyset_id, row)"
    conflict = (
        " ON CONFLICT (run_id, line_no) DO UPDATE"
        " SET step = excluded.step, keyset_id = excluded.keyset_id, row = excluded.row"
        if write.old  # plain INSERT when no line is replaced (no conflict handling per row)
        else ""
    )
    steps, keys, texts = chunk.steps, chunk.keys, chunk.texts
    ids = write.keyset_ids
    shapes = list(dict.fromkeys(keys))
    params: list[object] = [write.run_id, chunk.offset]
    if len(shapes) <= _SHAPES_APART and steps == list(range(steps[0], steps[0] + len(steps))):
        params.append(steps[0])
        selects: list[str] = []
        for shape in shapes:
            kept = (
                texts
                if len(shapes) == 1
                else [t if k == shape else None for t, k in zip(texts, keys, strict=True)]
            )
            fragment, param = dialect.numbered_texts(kept)
            selects.append(f"SELECT pos, ? AS keyset_id, value FROM {fragment} AS r{len(selects)}")
            params += [ids[shape], param]
        rows = " UNION ALL ".join(selects)
        select = f"SELECT ?, ? + pos, ? + pos, keyset_id, value FROM ({rows}) AS r WHERE true"
        if len(selects) > 1:  # in line order: rows put between others split full pages
            select += " ORDER BY pos"
    else:
        fragment, more = dialect.numbered_rows(steps, [ids[k] for k in keys], texts)
        params += more
        select = f"SELECT ?, ? + pos, a, b, value FROM {fragment} AS r WHERE true"
    return RowsInsert(f"{insert} {select}{conflict}", tuple(params))


_SHAPES_APART = 4
"""Up to this many key sets in a chunk, its rows are sent as one list a key set."""


def insert_history(conn: Connection, write: HistoryWrite, chunk: HistoryChunk) -> None:
    """Insert ``chunk``'s rows, a part of ``write`` (see :func:`prepare_insert`)."""
    intern_keysets(conn, write, chunk)
    run_insert(conn, prepare_insert(conn.dialect, write, chunk))


def finish_history(conn: Connection, write: HistoryWrite, chunk: HistoryChunk) -> None:
    """Finish ``write`` once all its lines (``chunk``, the whole of them) are inserted:
    the run's counters, its order flag and the exports the lines make stale. A write that
    changes the text of a line already stored counts one more ``rewrites``."""
    keyset_delta: Counter[int] = Counter()
    type_delta: Counter[tuple[str, str]] = Counter()
    run_id, old = write.run_id, write.old
    for _, keyset_id, text in old:
        keyset_delta[keyset_id] -= 1
        for key, value in json.loads(text).items():
            type_delta[(key, value_type(value))] -= 1
    for keys, n in Counter(chunk.keys).items():
        keyset_delta[write.keyset_ids[keys]] += n
    type_delta.update(chunk.type_counts)
    stats = stream_stats(conn, run_id, HISTORY)
    ordered = stats.ordered and _chunk_ordered(conn, run_id, chunk)
    _drop_stale_exports(conn, run_id, chunk, {int(r[0]): r[2] for r in old}, ordered)
    _add_counts(conn, run_id, keyset_delta, type_delta)
    if old:
        conn.execute(
            "DELETE FROM history_keyset_counts WHERE run_id = ? AND row_count <= 0", (run_id,)
        )
        conn.execute("DELETE FROM history_key_types WHERE run_id = ? AND row_count <= 0", (run_id,))
    count = stats.line_count + write.count - len(old)
    texts, first = chunk.texts, chunk.offset
    rewrites = stats.rewrites + any(texts[int(line) - first] != text for line, _, text in old)
    _save_stats(conn, run_id, HISTORY, StreamStats(count, ordered, rewrites))


def store_history(conn: Connection, run_id: int, chunk: HistoryChunk) -> None:
    """Store a parsed chunk (``parse_history`` output), replacing the same line numbers,
    and keep the run's counters.

    Exports that the chunk makes stale are forgotten (their files are removed by the
    exporter): all of them when the run's steps stop following line order, else those
    from the first line the chunk changes (a re-sent chunk of the same lines changes none).
    """
    if not chunk.texts:
        return
    write = begin_history(conn, run_id, chunk.offset, len(chunk.texts))
    insert_history(conn, write, chunk)
    finish_history(conn, write, chunk)


def store_events(conn: Connection, run_id: int, lines: Sequence[EventLine]) -> None:
    """Store contiguous events lines and set the run's ``system_metrics`` to the latest row."""
    if not lines:
        return
    (existing,) = conn.execute(
        "SELECT count(*) FROM events WHERE run_id = ? AND line_no BETWEEN ? AND ?",
        (run_id, lines[0].line_no, lines[-1].line_no),
    ).one()
    insert = "INSERT INTO events (run_id, line_no, row) VALUES (?, ?, ?)"
    if existing:
        insert += " ON CONFLICT (run_id, line_no) DO UPDATE SET row = excluded.row"
    conn.executemany(insert, [(run_id, line.line_no, line.text) for line in lines])
    stats = stream_stats(conn, run_id, EVENTS)
    count = stats.line_count + len(lines) - existing
    _save_stats(conn, run_id, EVENTS, StreamStats(count, True, stats.rewrites))
    conn.execute(
        "UPDATE runs SET system_metrics ="
        " (SELECT row FROM events WHERE run_id = ? ORDER BY line_no DESC LIMIT 1) WHERE id = ?",
        (run_id, run_id),
    )


# --------------------------------------------------------------------------- sampling


def _dense_lines(
    conn: Connection, table: str, run_id: int, line_count: int
) -> tuple[int, int] | None:
    """The run's first and last line numbers when they have no gaps between them (so
    position maps to line number), else None; ``(0, -1)`` for a run without lines."""
    if line_count == 0:
        return 0, -1
    low = conn.execute(f"SELECT min(line_no) FROM {table} WHERE run_id = ?", (run_id,)).one()
    high = conn.execute(f"SELECT max(line_no) FROM {table} WHERE run_id = ?", (run_id,)).one()
    return (int(low[0]), int(high[0])) if high[0] - low[0] + 1 == line_count else None


def _line_window(conn: Connection, run_id: int, lo: int, hi: int) -> tuple[int, int] | None:
    """First and last line of the step window, for a run whose steps follow line order."""
    first_step = conn.execute(
        "SELECT step FROM history WHERE run_id = ? AND step >= ? ORDER BY step LIMIT 1",
        (run_id, lo),
    ).first()
    last_step = conn.execute(
        "SELECT step FROM history WHERE run_id = ? AND step <= ? ORDER BY step DESC LIMIT 1",
        (run_id, hi),
    ).first()
    if first_step is None or last_step is None or first_step[0] > last_step[0]:
        return None
    # min/max of ``line_no + 0``, not of ``line_no`` nor ORDER BY line_no LIMIT 1: on the
    # bare column SQLite's planner walks the primary key from the run's first line (tens
    # of ms on a long run; EXPLAIN QUERY PLAN: "USING PRIMARY KEY (run_id=?)"); on the
    # expression it searches the covering (run_id, step, keyset_id) index, as PG does.
    (first,) = conn.execute(
        "SELECT min(line_no + 0) FROM history WHERE run_id = ? AND step = ?",
        (run_id, first_step[0]),
    ).one()
    (last,) = conn.execute(
        "SELECT max(line_no + 0) FROM history WHERE run_id = ? AND step = ?",
        (run_id, last_step[0]),
    ).one()
    return int(first), int(last)


def _rows_by_lines(
    conn: Connection, table: str, run_id: int, first: int, last: int, positions: list[int]
) -> list[str]:
    if len(positions) == last - first + 1:
        result = conn.execute(
            f"SELECT row FROM {table} WHERE run_id = ? AND line_no BETWEEN ? AND ?"
            " ORDER BY line_no",
            (run_id, first, last),
        )
    else:
        lines, param = conn.dialect.int_list([first + p for p in positions])
        result = conn.execute(
            f"SELECT row FROM {table} WHERE run_id = ? AND line_no IN {lines} ORDER BY line_no",
            (run_id, param),
        )
    return [row for (row,) in result.tuples()]


def history_rows(
    conn: Connection,
    run_id: int,
    *,
    samples: int | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    keyset_ids: Sequence[int] | None = None,
) -> list[str]:
    """History row texts as stored, by step; ``min_step`` inclusive, ``max_step`` exclusive;
    only rows of ``keyset_ids`` unless None.

    ``samples`` None returns every row of the window, else at most ``samples`` rows spread
    evenly by index with the first and last kept.
    """
    bounds = step_bounds(min_step, max_step)
    if bounds is None:
        return []
    lo, hi = bounds
    stats = stream_stats(conn, run_id, HISTORY)
    dense = _dense_lines(conn, HISTORY, run_id, stats.line_count) if stats.ordered else None
    if keyset_ids is None and dense is not None:
        # every step: the run's own first and last lines (its steps follow line order)
        lines = (
            dense if min_step is None and max_step is None else _line_window(conn, run_id, lo, hi)
        )
        if lines is None or lines[1] < lines[0]:
            return []
        first, last = lines
        positions = sample_positions(last - first + 1, samples)
        return _rows_by_lines(conn, HISTORY, run_id, first, last, positions)
    where = "run_id = ? AND step BETWEEN ? AND ?"
    params: list[object] = [run_id, lo, hi]
    if keyset_ids is not None:
        fragment, param = conn.dialect.int_list(keyset_ids)
        where += f" AND keyset_id IN {fragment}"
        params.append(param)
    if keyset_ids is not None and min_step is None and max_step is None:
        count = _keyset_rows(conn, run_id, keyset_ids)  # kept per key set: no index pass
    else:
        (count,) = conn.execute(f"SELECT count(*) FROM history WHERE {where}", params).one()
    positions = sample_positions(count, samples)
    if len(positions) == count:
        result = conn.execute(
            f"SELECT row FROM history WHERE {where} ORDER BY step, line_no", params
        )
    else:
        wanted, param = conn.dialect.int_list(positions)
        result = conn.execute(
            "SELECT h.row FROM (SELECT line_no, step,"
            " row_number() OVER (ORDER BY step, line_no) - 1 AS pos"
            f" FROM history WHERE {where}) AS w"
            " JOIN history AS h ON h.run_id = ? AND h.line_no = w.line_no"
            f" WHERE w.pos IN {wanted} ORDER BY w.step, w.line_no",
            [*params, run_id, param],
        )
    return [row for (row,) in result.tuples()]


def _keyset_rows(conn: Connection, run_id: int, keyset_ids: Sequence[int]) -> int:
    """The number of the run's history rows with one of ``keyset_ids``."""
    fragment, param = conn.dialect.int_list(keyset_ids)
    (count,) = conn.execute(
        "SELECT coalesce(sum(row_count), 0) FROM history_keyset_counts"
        f" WHERE run_id = ? AND keyset_id IN {fragment}",
        (run_id, param),
    ).one()
    return int(count)


def run_keysets(conn: Connection, run_id: int) -> list[tuple[int, list[str]]]:
    """``(keyset id, its keys)`` of every key set the run's history rows have now."""
    rows = conn.execute(
        "SELECT keysets.id, keysets.keys FROM history_keyset_counts"
        " JOIN keysets ON keysets.id = history_keyset_counts.keyset_id"
        " WHERE history_keyset_counts.run_id = ? AND history_keyset_counts.row_count > 0"
        " ORDER BY keysets.id",
        (run_id,),
    ).tuples()
    return [(int(keyset_id), json.loads(keys)) for keyset_id, keys in rows]


def event_rows(conn: Connection, run_id: int, samples: int | None = None) -> list[str]:
    """System-metrics rows as stored, in line order, sampled by index like history."""
    stats = stream_stats(conn, run_id, EVENTS)
    if stats.line_count == 0:
        return []
    positions = sample_positions(stats.line_count, samples)
    dense = _dense_lines(conn, EVENTS, run_id, stats.line_count)
    if dense is not None:
        return _rows_by_lines(conn, EVENTS, run_id, dense[0], dense[1], positions)
    wanted, param = conn.dialect.int_list(positions)
    result = conn.execute(
        "SELECT e.row FROM (SELECT line_no, row_number() OVER (ORDER BY line_no) - 1 AS pos"
        " FROM events WHERE run_id = ?) AS w"
        " JOIN events AS e ON e.run_id = ? AND e.line_no = w.line_no"
        f" WHERE w.pos IN {wanted} ORDER BY w.line_no",
        (run_id, run_id, param),
    )
    return [row for (row,) in result.tuples()]


# --------------------------------------------------------------------------- summaries


def last_step(conn: Connection, run_id: int) -> int:
    """The largest step logged, or -1 without history."""
    (step,) = conn.execute("SELECT max(step) FROM history WHERE run_id = ?", (run_id,)).one()
    return -1 if step is None else int(step)


def key_type_counts(conn: Connection, run_id: int) -> list[tuple[str, str, int]]:
    """``(key, type, rows)`` of the run's history keys, by key then type (code point order,
    sorted here: PostgreSQL would order text by its collation)."""
    rows = conn.execute(
        "SELECT key, type, row_count FROM history_key_types WHERE run_id = ? AND row_count > 0",
        (run_id,),
    ).tuples()
    return sorted((str(key), str(kind), int(count)) for key, kind, count in rows)


def line_count(conn: Connection, run_id: int, stream: str) -> int:
    """Number of stored lines of ``history`` or ``events``."""
    return stream_stats(conn, run_id, stream).line_count


def history_tail(conn: Connection, run_id: int, rows: int = TAIL_ROWS) -> str:
    """The last ``rows`` history rows (by step): a JSON list of row texts as stored.

    Each element is a string (one JSON row), as on W&B: resuming SDKs decode the list,
    then its last element (wandb-core fails on a list of objects).
    """
    texts = conn.execute(
        "SELECT row FROM history WHERE run_id = ? ORDER BY step DESC, line_no DESC LIMIT ?",
        (run_id, rows),
    ).tuples()
    return json.dumps([text for (text,) in reversed(texts)])


def events_tail(conn: Connection, run_id: int, rows: int = TAIL_ROWS) -> str:
    """The last ``rows`` events rows: a JSON list of row texts (see :func:`history_tail`)."""
    texts = conn.execute(
        "SELECT row FROM events WHERE run_id = ? ORDER BY line_no DESC LIMIT ?",
        (run_id, rows),
    ).tuples()
    return json.dumps([text for (text,) in reversed(texts)])


def row_batches(
    conn: Connection, run_id: int, *, after_line: int | None = None, size: int = 10_000
) -> Iterator[list[str]]:
    """History row texts after line ``after_line`` (None: all, by step), ``size`` at a time."""
    if after_line is None:
        query = "SELECT row FROM history WHERE run_id = ? ORDER BY step, line_no"
        params: tuple[int, ...] = (run_id,)
    else:  # exports exist only while steps follow line order: walk the primary key
        query = "SELECT row FROM history WHERE run_id = ? AND line_no > ? ORDER BY line_no"
        params = (run_id, after_line)
    for batch in conn.execute(query, params).batches(size):
        yield [text for (text,) in batch]
