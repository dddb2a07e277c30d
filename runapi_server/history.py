"""History and system-metrics (events) rows: storage and index sampling over SQLite.

Rows arrive through the file stream as JSON lines and are stored as sent (bare ``NaN`` /
``Infinity`` tokens and nested values survive), keyed by ``(run_id, line_no)`` so a re-sent
chunk overwrites itself. Each history row also keeps its step and its key set (interned in
``keysets``), and per-run counters (``stream_stats``, ``history_keyset_counts``,
``history_key_types``) are maintained on every write, so that:

- counts, ``historyKeys`` and the last step never scan a run's rows;
- sampling picks evenly spaced ordinal positions and fetches only those rows. While a run's
  steps never decrease with the line number and its line numbers have no gaps (the normal
  case), position ``p`` of a step window is simply line ``first_line + p`` (primary-key
  lookups, cost independent of run length); otherwise a window function numbers the
  window's rows on the covering step index, still without decoding a row.

```python
with db.transaction() as conn:
    chunk = parse_history("wandb-history.jsonl", 0, ['{"_step": 0, "loss": NaN}'])
    store_history(conn, run_id, chunk)
history_rows(db.read(), run_id, samples=500)  # -> ['{"_step": 0, "loss": NaN}']
```
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from runapi_server.history_parse import INT64_MAX as INT64_MAX
from runapi_server.history_parse import INT64_MIN as INT64_MIN
from runapi_server.history_parse import EventLine as EventLine
from runapi_server.history_parse import HistoryChunk as HistoryChunk
from runapi_server.history_parse import HistoryLine as HistoryLine
from runapi_server.history_parse import RowError as RowError
from runapi_server.history_parse import decode_lines as decode_lines
from runapi_server.history_parse import parse_events as parse_events
from runapi_server.history_parse import parse_history as parse_history
from runapi_server.history_parse import parse_object as parse_object
from runapi_server.history_parse import picked_rows as picked_rows
from runapi_server.history_parse import value_type as value_type
from runapi_server.storage.connection import Connection

TAIL_ROWS = 10
HISTORY = "history"
EVENTS = "events"


@dataclass(frozen=True)
class StreamStats:
    line_count: int
    ordered: bool


# --------------------------------------------------------------------------- writing


def stream_stats(conn: Connection, run_id: int, stream: str) -> StreamStats:
    row = conn.execute(
        "SELECT line_count, ordered FROM stream_stats WHERE run_id = ? AND stream = ?",
        (run_id, stream),
    ).first()
    if row is None:
        return StreamStats(line_count=0, ordered=True)
    return StreamStats(line_count=row[0], ordered=bool(row[1]))


def _save_stats(conn: Connection, run_id: int, stream: str, stats: StreamStats) -> None:
    conn.execute(
        "INSERT INTO stream_stats (run_id, stream, line_count, ordered) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id, stream) DO UPDATE"
        " SET line_count = excluded.line_count, ordered = excluded.ordered",
        (run_id, stream, stats.line_count, int(stats.ordered)),
    )


def _intern_keysets(conn: Connection, keysets: Iterable[str]) -> dict[str, int]:
    ids = {}
    for keys in set(keysets):
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


def exported_through(conn: Connection, run_id: int) -> int | None:
    """The last line covered by the run's parquet exports, None without exports."""
    (last,) = conn.execute(
        "SELECT max(last_line) FROM history_exports WHERE run_id = ?", (run_id,)
    ).one()
    return None if last is None else int(last)


def drop_exports(conn: Connection, run_id: int, from_line: int | None = None) -> list[str]:
    """Forget the run's parquet exports (only those reaching line ``from_line`` or later
    when given, so the exports left still cover a prefix of the run); returns their paths
    (relative to the data dir)."""
    where = "run_id = ?" if from_line is None else "run_id = ? AND last_line >= ?"
    params = (run_id,) if from_line is None else (run_id, from_line)
    found = conn.execute(f"SELECT path FROM history_exports WHERE {where}", params)
    paths = [str(row[0]) for row in found]
    conn.execute(f"DELETE FROM history_exports WHERE {where}", params)
    return paths


def store_history(conn: Connection, run_id: int, chunk: HistoryChunk) -> None:
    """Store a parsed chunk (``parse_history`` output), replacing the same line numbers.

    Exports that the chunk makes stale are forgotten (their files are removed by the
    exporter): all of them when the run's steps stop following line order, else those
    from the first line the chunk changes (a re-sent chunk of the same lines changes none).
    """
    count_new = len(chunk.texts)
    if not count_new:
        return
    first, last = chunk.offset, chunk.offset + count_new - 1
    old = conn.execute(
        "SELECT line_no, keyset_id, row FROM history WHERE run_id = ? AND line_no BETWEEN ? AND ?",
        (run_id, first, last),
    ).all()
    keyset_delta: Counter[int] = Counter()
    type_delta: Counter[tuple[str, str]] = Counter()
    for _, keyset_id, text in old:
        keyset_delta[keyset_id] -= 1
        for key, value in json.loads(text).items():
            type_delta[(key, value_type(value))] -= 1
    ids = _intern_keysets(conn, set(chunk.keys))
    row_ids = [ids[keys] for keys in chunk.keys]
    keyset_delta.update(row_ids)
    type_delta.update(chunk.type_counts)
    stats = stream_stats(conn, run_id, HISTORY)
    ordered = stats.ordered and _chunk_ordered(conn, run_id, chunk)
    exported = exported_through(conn, run_id)
    if exported is not None and not ordered:
        drop_exports(conn, run_id)
    elif exported is not None and first <= exported:
        before = {int(line): text for line, _, text in old}
        changed = (
            line
            for line, text in zip(range(first, last + 1), chunk.texts, strict=True)
            if before.get(line) != text
        )
        line = next(changed, None)
        if line is not None and line <= exported:
            drop_exports(conn, run_id, line)
    conn.executemany(
        # Plain INSERT when no line is replaced (no conflict check per row).
        ("INSERT OR REPLACE" if old else "INSERT")
        + " INTO history (run_id, line_no, step, keyset_id, row) VALUES (?, ?, ?, ?, ?)",
        zip(repeat(run_id), range(first, last + 1), chunk.steps, row_ids, chunk.texts),
    )
    conn.executemany(
        "INSERT INTO history_keyset_counts (run_id, keyset_id, row_count) VALUES (?, ?, ?)"
        " ON CONFLICT (run_id, keyset_id) DO UPDATE SET row_count = row_count + excluded.row_count",
        [(run_id, keyset_id, n) for keyset_id, n in keyset_delta.items() if n],
    )
    conn.executemany(
        "INSERT INTO history_key_types (run_id, key, type, row_count) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id, key, type) DO UPDATE SET row_count = row_count + excluded.row_count",
        [(run_id, key, kind, n) for (key, kind), n in type_delta.items() if n],
    )
    if old:
        conn.execute(
            "DELETE FROM history_keyset_counts WHERE run_id = ? AND row_count <= 0", (run_id,)
        )
        conn.execute("DELETE FROM history_key_types WHERE run_id = ? AND row_count <= 0", (run_id,))
    count = stats.line_count + count_new - len(old)
    _save_stats(conn, run_id, HISTORY, StreamStats(line_count=count, ordered=ordered))


def store_events(conn: Connection, run_id: int, lines: Sequence[EventLine]) -> None:
    """Store contiguous events lines and set the run's ``system_metrics`` to the latest row."""
    if not lines:
        return
    (existing,) = conn.execute(
        "SELECT count(*) FROM events WHERE run_id = ? AND line_no BETWEEN ? AND ?",
        (run_id, lines[0].line_no, lines[-1].line_no),
    ).one()
    conn.executemany(
        "INSERT OR REPLACE INTO events (run_id, line_no, row) VALUES (?, ?, ?)",
        [(run_id, line.line_no, line.text) for line in lines],
    )
    stats = stream_stats(conn, run_id, EVENTS)
    count = stats.line_count + len(lines) - existing
    _save_stats(conn, run_id, EVENTS, StreamStats(line_count=count, ordered=True))
    conn.execute(
        "UPDATE runs SET system_metrics ="
        " (SELECT row FROM events WHERE run_id = ? ORDER BY line_no DESC LIMIT 1) WHERE id = ?",
        (run_id, run_id),
    )


# --------------------------------------------------------------------------- sampling


def sample_positions(count: int, samples: int | None) -> list[int]:
    """Evenly spaced ordinal positions in ``range(count)``, first and last kept.

    ```python
    sample_positions(10, 4)  # -> [0, 3, 6, 9]
    sample_positions(3, None)  # -> [0, 1, 2]
    ```
    """
    if samples is None or samples >= count:
        return list(range(count))
    if samples <= 0:
        return []
    if samples == 1:
        return [0]
    span, gaps = count - 1, samples - 1
    return [(2 * i * span + gaps) // (2 * gaps) for i in range(samples)]


def _clamp(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


def _step_bounds(min_step: int | None, max_step: int | None) -> tuple[int, int] | None:
    """Inclusive step bounds of ``[min_step, max_step)``, or None for an empty window."""
    lo = INT64_MIN if min_step is None else _clamp(min_step)
    if max_step is None:
        hi = INT64_MAX
    elif max_step <= INT64_MIN:
        return None
    else:
        hi = _clamp(max_step - 1)
    return (lo, hi) if lo <= hi else None


def _dense(conn: Connection, table: str, run_id: int, line_count: int) -> bool:
    """True when the run's line numbers have no gaps (so position maps to line number)."""
    if line_count == 0:
        return True
    low = conn.execute(f"SELECT min(line_no) FROM {table} WHERE run_id = ?", (run_id,)).one()
    high = conn.execute(f"SELECT max(line_no) FROM {table} WHERE run_id = ?", (run_id,)).one()
    return bool(high[0] - low[0] + 1 == line_count)


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
    # INDEXED BY: otherwise SQLite's min/max shortcut walks the primary key.
    (first,) = conn.execute(
        "SELECT min(line_no) FROM history INDEXED BY history_step WHERE run_id = ? AND step = ?",
        (run_id, first_step[0]),
    ).one()
    (last,) = conn.execute(
        "SELECT max(line_no) FROM history INDEXED BY history_step WHERE run_id = ? AND step = ?",
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


def _select_history(
    conn: Connection,
    run_id: int,
    *,
    samples: int | None,
    min_step: int | None,
    max_step: int | None,
    keyset_ids: list[int] | None,
) -> list[str]:
    """Row texts of the window (only ``keyset_ids`` rows unless None), sampled by index."""
    bounds = _step_bounds(min_step, max_step)
    if bounds is None:
        return []
    lo, hi = bounds
    stats = stream_stats(conn, run_id, HISTORY)
    if keyset_ids is None and stats.ordered and _dense(conn, HISTORY, run_id, stats.line_count):
        lines = _line_window(conn, run_id, lo, hi)
        if lines is None:
            return []
        first, last = lines
        positions = sample_positions(last - first + 1, samples)
        return _rows_by_lines(conn, HISTORY, run_id, first, last, positions)
    where = "run_id = ? AND step BETWEEN ? AND ?"
    params: list[Any] = [run_id, lo, hi]
    if keyset_ids is not None:
        where += " AND keyset_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(keyset_ids))
    (count,) = conn.execute(f"SELECT count(*) FROM history WHERE {where}", params).one()
    positions = sample_positions(count, samples)
    if len(positions) == count:
        cursor = conn.execute(
            f"SELECT row FROM history WHERE {where} ORDER BY step, line_no", params
        )
    else:
        cursor = conn.execute(
            "SELECT h.row FROM (SELECT line_no, step,"
            " row_number() OVER (ORDER BY step, line_no) - 1 AS pos"
            f" FROM history WHERE {where}) AS w"
            " JOIN history AS h ON h.run_id = ? AND h.line_no = w.line_no"
            " WHERE w.pos IN (SELECT value FROM json_each(?)) ORDER BY w.step, w.line_no",
            [*params, run_id, json.dumps(positions)],
        )
    return [row[0] for row in cursor]


def history_rows(
    conn: Connection,
    run_id: int,
    *,
    samples: int | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
) -> list[str]:
    """History rows as stored, by step; ``min_step`` inclusive, ``max_step`` exclusive.

    ``samples`` None returns every row of the window, else at most ``samples`` rows spread
    evenly by index with the first and last kept.
    """
    return _select_history(
        conn, run_id, samples=samples, min_step=min_step, max_step=max_step, keyset_ids=None
    )


def _keysets_with(conn: Connection, run_id: int, keys: Sequence[str]) -> list[int] | None:
    """Ids of the run's keysets holding every key; None when that is all of them."""
    rows = conn.execute(
        "SELECT keysets.id, keysets.keys FROM history_keyset_counts"
        " JOIN keysets ON keysets.id = history_keyset_counts.keyset_id"
        " WHERE history_keyset_counts.run_id = ? AND history_keyset_counts.row_count > 0",
        (run_id,),
    ).all()
    wanted = set(keys)
    matching = [row[0] for row in rows if wanted.issubset(json.loads(row[1]))]
    return None if len(matching) == len(rows) else matching


def sampled_history(
    conn: Connection,
    run_id: int,
    keys: Sequence[str],
    *,
    samples: int | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
) -> list[dict[str, Any]]:
    """Rows having every key in ``keys``, reduced to those keys, sampled like :func:`history_rows`.

    ```python
    sampled_history(conn, run_id, ["loss"], samples=2)  # -> [{"loss": 1.0}, {"loss": 0.1}]
    ```
    """
    keyset_ids = _keysets_with(conn, run_id, keys)
    if keyset_ids == []:
        return []
    texts = _select_history(
        conn, run_id, samples=samples, min_step=min_step, max_step=max_step, keyset_ids=keyset_ids
    )
    return picked_rows(texts, keys, every=True)


def event_rows(conn: Connection, run_id: int, samples: int | None = None) -> list[str]:
    """System-metrics rows as stored, in line order, sampled by index like history."""
    stats = stream_stats(conn, run_id, EVENTS)
    if stats.line_count == 0:
        return []
    positions = sample_positions(stats.line_count, samples)
    if _dense(conn, EVENTS, run_id, stats.line_count):
        (first,) = conn.execute("SELECT min(line_no) FROM events WHERE run_id = ?", (run_id,)).one()
        return _rows_by_lines(conn, EVENTS, run_id, first, first + stats.line_count - 1, positions)
    cursor = conn.execute(
        "SELECT e.row FROM (SELECT line_no, row_number() OVER (ORDER BY line_no) - 1 AS pos"
        " FROM events WHERE run_id = ?) AS w"
        " JOIN events AS e ON e.run_id = ? AND e.line_no = w.line_no"
        " WHERE w.pos IN (SELECT value FROM json_each(?)) ORDER BY w.line_no",
        (run_id, run_id, json.dumps(positions)),
    )
    return [row[0] for row in cursor]


# --------------------------------------------------------------------------- summaries


def last_step(conn: Connection, run_id: int) -> int:
    """The largest step logged, or -1 without history."""
    (step,) = conn.execute("SELECT max(step) FROM history WHERE run_id = ?", (run_id,)).one()
    return -1 if step is None else int(step)


def history_keys(conn: Connection, run_id: int) -> dict[str, Any]:
    """``{"lastStep": n, "keys": {key: {"typeCounts": [{"type": t, "count": c}, ...]}}}``."""
    keys: dict[str, Any] = {}
    for key, kind, count in conn.execute(
        "SELECT key, type, row_count FROM history_key_types WHERE run_id = ? AND row_count > 0"
        " ORDER BY key, type",
        (run_id,),
    ):
        entry = keys.setdefault(key, {"typeCounts": []})
        entry["typeCounts"].append({"type": kind, "count": count})
    return {"lastStep": last_step(conn, run_id), "keys": keys}


def line_count(conn: Connection, run_id: int, stream: str) -> int:
    """Number of stored lines of ``history`` or ``events``."""
    return stream_stats(conn, run_id, stream).line_count


def history_tail(conn: Connection, run_id: int, rows: int = TAIL_ROWS) -> str:
    """The last ``rows`` history rows (by step): a JSON list of row texts as stored.

    Each element is a string (one JSON row), as on W&B: resuming SDKs decode the list,
    then its last element (wandb-core fails on a list of objects).
    """
    texts = [
        row[0]
        for row in conn.execute(
            "SELECT row FROM history WHERE run_id = ? ORDER BY step DESC, line_no DESC LIMIT ?",
            (run_id, rows),
        )
    ]
    return json.dumps(texts[::-1])


def events_tail(conn: Connection, run_id: int, rows: int = TAIL_ROWS) -> str:
    """The last ``rows`` events rows: a JSON list of row texts (see :func:`history_tail`)."""
    texts = [
        row[0]
        for row in conn.execute(
            "SELECT row FROM events WHERE run_id = ? ORDER BY line_no DESC LIMIT ?",
            (run_id, rows),
        )
    ]
    return json.dumps(texts[::-1])


def live_rows(
    conn: Connection, run_id: int, keys: Sequence[str], *, after_line: int | None = None
) -> list[dict[str, Any]]:
    """History rows (by step) after line ``after_line`` (None: all) reduced to ``keys``.

    Rows holding none of the keys are left out.
    """
    if after_line is None:
        query = "SELECT row FROM history WHERE run_id = ? ORDER BY step, line_no"
        params: tuple[int, ...] = (run_id,)
    else:  # exports exist only while steps follow line order: walk the primary key
        query = "SELECT row FROM history WHERE run_id = ? AND line_no > ? ORDER BY line_no"
        params = (run_id, after_line)
    result = []
    for batch in conn.execute(query, params).batches(10_000):
        texts = [text for (text,) in batch]
        result += picked_rows(texts, keys, every=False)
    return result
