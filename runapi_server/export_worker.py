"""Keeping history exports current off the request path.

A file_stream post stores its rows and is answered; then :func:`after_post` hands the run
(and the post's parsed chunks, whose decoded rows spare a second decode) to one exporter
thread per data dir, which writes the parts due (`parquet_export.export_pending`) in its
own write transaction. The run's last post (``complete``) exports what is left and merges
small parts itself, before it is answered: a reader of a finished run is handed parts
that no later merge replaces under it. Exports only copy rows that SQLite holds durably,
so nothing is lost when a server dies first: a read of a finished run exports whatever
is still pending itself (`parquet_export.ensure_exports`), and the exporter then finds
nothing to do. The exporter is an optimisation local to a process; another server
process on the same data needs nothing from it.

```python
after_post(state, run_id, post.history_chunks, rewrites)  # after the post committed
```
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from runapi_server import history, parquet_export
from runapi_server.state import ServerState
from runapi_server.storage.runs import run_by_id

log = logging.getLogger("runapi_server")

HELD_ROWS = 200_000
"""Decoded rows held for the exporter per run; beyond, it decodes the stored rows."""


@dataclass
class _Due:
    chunks: list[history.HistoryChunk] = field(default_factory=list)
    counts: list[int | None] = field(default_factory=list)  # each added post's ``rewrites``

    @property
    def rewrites(self) -> int | None:
        """The run's ``rewrites`` count after the earliest of the posts added (None: one of
        them did not say): the held chunks' texts are the stored ones while it is unchanged."""
        if not self.counts or None in self.counts:
            return None
        return min(count for count in self.counts if count is not None)

    def add(self, chunks: Sequence[history.HistoryChunk], rewrites: int | None) -> None:
        for chunk in chunks:  # a chunk rewriting held lines makes them stale
            end = chunk.offset + len(chunk.texts)
            self.chunks = [
                c for c in self.chunks if c.offset + len(c.texts) <= chunk.offset or c.offset >= end
            ]
        self.chunks += [c for c in chunks if c.rows]
        while sum(len(c.texts) for c in self.chunks) > HELD_ROWS:
            self.chunks.pop(0)
        self.counts.append(rewrites)


class _Exporter:
    """The exporter thread of one data dir and the runs waiting for it."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._lock = threading.Lock()
        self._due: dict[int, _Due] = {}
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    def submit(
        self, run_id: int, chunks: Sequence[history.HistoryChunk], rewrites: int | None
    ) -> None:
        with self._lock:
            self._due.setdefault(run_id, _Due()).add(chunks, rewrites)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runapi-exports", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._due:
                        self._idle.set()
                        break
                    run_id = next(iter(self._due))
                    due = self._due.pop(run_id)
                self._export(run_id, due)

    def _export(self, run_id: int, due: _Due) -> None:
        try:
            chunks = joined(due.chunks)
            # Parts are built and written without the write lock (posts go on meanwhile);
            # what is left (and merging small parts) takes it.
            while parquet_export.write_part_unlocked(self._state, run_id, chunks, due.rewrites):
                pass
            with self._state.db.transaction() as conn:
                row = run_by_id(conn, run_id)
                if row is None:  # deleted meanwhile
                    return
                final = str(row["state"]) not in parquet_export.ACTIVE_STATES
                parquet_export.export_pending(self._state, conn, run_id, chunks, final=final)
        except Exception:  # the rows are safe; a read exports what is pending
            log.exception("history export of run %s failed", run_id)


def joined(chunks: Sequence[history.HistoryChunk]) -> list[history.HistoryChunk]:
    """``chunks`` with contiguous ones (by line) joined into one, so a part spanning
    several posts reuses their decoded rows (each run of contiguous chunks is copied
    once, its columns kept when all of them have the same)."""
    runs: list[list[history.HistoryChunk]] = []
    for chunk in sorted(chunks, key=lambda c: c.offset):
        last = runs[-1][-1] if runs else None
        if last is None or last.offset + len(last.texts) != chunk.offset:
            runs.append([chunk])
        else:
            runs[-1].append(chunk)
    return [run[0] if len(run) == 1 else _join(run) for run in runs]


def _join(run: list[history.HistoryChunk]) -> history.HistoryChunk:
    names = run[0].columns[0] if run[0].columns else None
    columns = None
    if names is not None and all(c.columns and c.columns[0] == names for c in run):
        parts = [c.columns[1] for c in run if c.columns]
        columns = (names, [tuple(chain.from_iterable(col)) for col in zip(*parts, strict=True)])
    type_counts: Counter[tuple[str, str]] = Counter()
    for c in run:
        type_counts.update(c.type_counts)
    return history.HistoryChunk(
        offset=run[0].offset,
        steps=list(chain.from_iterable(c.steps for c in run)),
        keys=list(chain.from_iterable(c.keys for c in run)),
        texts=list(chain.from_iterable(c.texts for c in run)),
        type_counts=type_counts,
        rows=list(chain.from_iterable(c.rows for c in run)),
        columns=columns,
    )


_exporters: dict[Path, _Exporter] = {}
_exporters_lock = threading.Lock()


def _exporter(state: ServerState) -> _Exporter:
    with _exporters_lock:
        exporter = _exporters.get(state.data_dir)
        if exporter is None or exporter._state is not state:
            exporter = _exporters[state.data_dir] = _Exporter(state)
        return exporter


def after_post(
    state: ServerState,
    run_id: int,
    chunks: Sequence[history.HistoryChunk],
    rewrites: int | None = None,
) -> None:
    """Queue the run for the exporter (after the post's transaction committed, whose
    run's ``rewrites`` count was ``rewrites``: None when not known)."""
    if parquet_export.exports_enabled():
        _exporter(state).submit(run_id, chunks, rewrites)


def wait_idle(data_dir: Path, timeout: float = 30.0) -> bool:
    """Wait until the exporter of ``data_dir`` has nothing queued (False on timeout); for
    tests and benchmarks that look at the exports a post made."""
    with _exporters_lock:
        exporter = _exporters.get(data_dir.resolve())
    return exporter is None or exporter.wait_idle(timeout)
