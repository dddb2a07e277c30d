"""Full history scans (`Run.scan_history`): `HistoryScan`, its row pages and frames."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from functools import partial
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, TypeVar

from ._context import Context
from ._history_exports import HistoryExports, joined_arrow
from ._history_requests import check_int, check_keys, history_texts, sampled_rows, spec_keys
from ._history_rows import exact_rows, prefetched_parts, table_rows
from ._json import ColumnBuilder, decode_rows, dumps, gc_paused
from ._lookup import require_run
from ._paths import RunPath

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

T = TypeVar("T")

FAST_PAGE_SIZE = 10_000
"""Steps per GraphQL page when a whole scan is read into a DataFrame."""

ITER_VALUES = 200_000
"""Values per window up to which iterating a scan doubles its windows' steps."""

ITER_GROWTH = 16
"""Iterating a scan reads windows of at most this many times `page_size` steps."""

ACTIVE_STATES = frozenset({"running", "pending", "preempting"})
"""Run states in which history is still being logged."""

SMALL_SCAN_VALUES = 65_536
"""Iterating a scan of at most this many values (steps in range times keys per row) reads
GraphQL windows, not the exports: one or two requests beat the export plan, a part's
download (of rows mostly outside a small range) and pyarrow's first imports. Measured
(fresh processes, 6 values a row): 1,000 rows 9 ms against 18-50 ms; 10,000 rows 32-40
ms against 23-120 ms; 30,000 rows 110-145 ms against 67-160 ms."""

IN_FLIGHT = 1
"""GraphQL pages requested ahead while a DataFrame is built (memory: this many + 1).
Two measured no faster on two cores: the client's decoding, not the wait, bounds it."""


class HistoryScan:
    """Every history row of a run, read lazily in windows of `page_size` steps.

    Reads `historyKeys.lastStep`, then asks for steps `[a, a + page_size)` one window at a
    time, so memory holds one page; rows are neither duplicated nor skipped.

    ```python
    for row in run.scan_history(keys=["loss"], page_size=500):
        print(row["_step"], row["loss"])
    df = run.scan_history().to_pandas()
    ```
    """

    def __init__(
        self,
        ctx: Context,
        path: RunPath,
        *,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> None:
        self._ctx = ctx
        self._path = path
        self._keys = check_keys(keys)
        self._page_size = check_int("page_size", page_size, 1)
        self._min_step = None if min_step is None else check_int("min_step", min_step, 0)
        self._max_step = None if max_step is None else check_int("max_step", max_step, 0)
        self._exports = HistoryExports(ctx, path, self._keys, self._min_step, self._max_step)

    @property
    def keys(self) -> list[str] | None:
        """The requested keys (None: every key)."""
        return self._keys

    @property
    def page_size(self) -> int:
        """Steps per request."""
        return self._page_size

    def _last_step(self) -> int:
        return self._scan_start()[0]

    def _scan_start(self) -> tuple[int, str | None, int]:
        """The run's last step (-1: none), its state and how many history keys it has, in
        one request."""
        client = self._ctx.gql.client
        run = require_run(
            self._ctx.gql.call(
                client.get_run_history_keys,
                entity=self._path.entity,
                project=self._path.project,
                name=self._path.run_id,
            ),
            self._path,
        )
        history_keys = run.history_keys
        if isinstance(history_keys, dict):
            last = history_keys.get("lastStep")
            known = history_keys.get("keys")
            width = len(known) if isinstance(known, dict) else 0
            if isinstance(last, int | float) and not isinstance(last, bool):
                return int(last), run.state, width
        return -1, run.state, 0

    def _ended(self) -> bool:
        """Whether the run is no longer being logged to; only then are its exports asked
        for. A run still being logged to is read over GraphQL (as `_row_pages` reads it):
        this project's server lists every row of such a run as live data, which costs more
        than reading the rows (5.5 s for the plan of a 1M-row run)."""
        return self._scan_start()[1] not in ACTIVE_STATES

    def _history_texts(self, start: int, stop: int) -> list[str]:
        """The row texts of steps `[start, stop)` (at most one row a step is asked for, as
        with `page_size` windows)."""
        samples = max(stop - start, self._page_size)
        return history_texts(self._ctx, self._path, samples, start, stop)

    def _window(self, start: int, stop: int) -> list[dict[str, Any]]:
        if self._keys is None:
            return decode_rows(self._history_texts(start, stop))
        spec = dumps(
            {
                "keys": spec_keys(self._keys, "_step"),
                "samples": max(stop - start, self._page_size),
                "minStep": start,
                "maxStep": stop,
            }
        )
        return sampled_rows(self._ctx, self._path, spec)

    def _bounds(self) -> list[tuple[int, int]]:
        end = self._last_step() + 1
        if self._max_step is not None:
            end = min(end, self._max_step)
        start = self._min_step or 0
        return [
            (a, min(a + self._page_size, end))
            for a in range(start, max(start, end), self._page_size)
        ]

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The rows one window at a time (empty windows are skipped)."""
        for start, stop in self._bounds():
            rows = self._window(start, stop)
            if rows:
                yield rows

    def _prefetched(self, read: Callable[[int, int], list[T]]) -> Iterator[list[T]]:
        """`read(start, stop)` of each window, the next `IN_FLIGHT` windows read in
        threads while the caller uses this one (so the server's work and the transfer
        overlap ours). Empty windows are skipped."""
        windows = iter(self._bounds())
        with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="runapi-history") as pool:
            pending: deque[Future[list[T]]] = deque()
            try:
                for window in islice(windows, IN_FLIGHT):
                    pending.append(pool.submit(read, *window))
                while pending:
                    items = pending.popleft().result()
                    after = next(windows, None)
                    if after is not None:
                        pending.append(pool.submit(read, *after))
                    if items:
                        yield items
            finally:
                for future in pending:
                    future.cancel()

    def _growing(
        self, first: int | None, last: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows of successive windows from step `first` on (to the run's `last` step:
        asked for when None), the next requested while the caller uses this one. Windows
        start at `page_size` steps and double while a window holds fewer than
        `ITER_VALUES` values, up to `ITER_GROWTH` times `page_size` steps: fewer, larger
        transfers for runs of small rows, `page_size` windows for big rows."""
        end = (self._last_step() if last is None else last) + 1
        if self._max_step is not None:
            end = min(end, self._max_step)
        start, size = first or 0, self._page_size
        largest = self._page_size * ITER_GROWTH
        with ThreadPoolExecutor(1, thread_name_prefix="runapi-history") as pool:
            pending: Future[list[dict[str, Any]]] | None = None
            if start < end:
                pending = pool.submit(self._window, start, min(start + size, end))
            try:
                while pending is not None:
                    rows = pending.result()
                    start, pending = min(start + size, end), None
                    if sum(map(len, rows)) * 2 <= ITER_VALUES:
                        size = min(size * 2, largest)
                    if start < end:
                        pending = pool.submit(self._window, start, min(start + size, end))
                    if rows:
                        yield rows
            finally:
                if pending is not None:
                    pending.cancel()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every row: from the server's parquet exports when pyarrow is installed and
        their values read back exactly (`_row_pages`), else (and for the rows after
        them) from GraphQL windows read ahead and growing while rows are small (see
        `_growing`); each window's rows are decoded in one call. The pages are chained
        at C level: no Python frame resumes per row."""
        return chain.from_iterable(self._row_pages())

    def _values_in_range(self, last: int, width: int) -> int:
        """At most how many values the scan reads: steps in range (to the run's `last`)
        times the keys a row holds (the requested ones, else the run's `width`)."""
        end = last + 1 if self._max_step is None else min(last + 1, self._max_step)
        steps = max(0, end - (self._min_step or 0))
        per_row = width if self._keys is None else len(self._keys) + 1  # the keys and _step
        return steps * max(1, per_row)

    def _row_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Rows of the exports read as columns while they read back exactly, then the
        rest (from the first step not read yet) from GraphQL windows. A run still being
        logged to is paged over GraphQL only (its `parquetHistory` would list every row
        as live data), and so is a small scan (`SMALL_SCAN_VALUES`)."""
        last, state, width = self._scan_start()
        small = self._values_in_range(last, width) <= SMALL_SCAN_VALUES
        plan = None if state in ACTIVE_STATES or small else self._exports.plan()
        if plan is None:
            yield from self._growing(self._min_step, last)
            return
        tail_start = plan.tail_start
        resume = self._min_step  # the first step GraphQL would still have to read
        read = partial(self._exports.part, upper=plan.upper)
        with closing(prefetched_parts(read, plan.urls)) as parts:
            for part in parts:
                if part is None or part[1] or not exact_rows(part[0]):
                    tail_start = resume  # from here on, every row as JSON
                    break
                table = part[0]
                if table.num_rows:
                    yield from table_rows(table)
                    resume = int(table.column("_step")[-1].as_py()) + 1
            else:
                if tail_start is None:
                    return
                tail_start = max(tail_start, resume or 0)
        yield from self._growing(tail_start, last)

    def to_pandas(self, *, parquet: bool = True, page_size: int | None = None) -> pandas.DataFrame:
        """Every row as a DataFrame, built column by column (no list of row dicts kept).

        When the run has ended, the server offers parquet exports of its history
        (`Run.parquetHistory`) and pyarrow is installed (`pip install "runapi[arrow]"`),
        the exports are downloaded and only the rows logged after them are paged over
        GraphQL; a run still being logged to, and `parquet=False`, read GraphQL pages
        only. Pages here hold `page_size` steps (default: the larger of the scan's page
        size and 10,000). Values are kept exactly: `NaN` / `Infinity`, nested
        dicts and lists.

        ```python
        df = run.scan_history().to_pandas()
        df = run.scan_history(keys=["loss"], min_step=100).to_pandas(parquet=False)
        ```
        """
        import pandas

        size = check_int("page_size", page_size, 1) if page_size is not None else None
        pages = max(self._page_size, FAST_PAGE_SIZE) if size is None else size
        if parquet and self._ended():
            frames = self._exports.frames()
            if frames is not None:
                exported, tail_start = frames
                tail = self._tail_frame(tail_start, pages) if tail_start is not None else None
                parts = [f for f in [*exported, tail] if f is not None and len(f.columns)]
                if not parts:
                    return pandas.DataFrame()
                if len(parts) == 1:
                    return parts[0].reset_index(drop=True)
                return pandas.concat(parts, ignore_index=True, sort=False)
        return self._tail_frame(self._min_step, pages)

    def _tail_frame(self, start: int | None, page_size: int) -> pandas.DataFrame:
        with gc_paused():
            return self._tail_columns(start, page_size).to_pandas()

    def _tail_columns(self, start: int | None, page_size: int) -> ColumnBuilder:
        """The rows from step `start` on, paged over GraphQL into columns."""
        scan = HistoryScan(
            self._ctx,
            self._path,
            keys=self._keys,
            page_size=page_size,
            min_step=start,
            max_step=self._max_step,
        )
        columns = ColumnBuilder()
        with gc_paused():
            if self._keys is None:
                for texts in scan._prefetched(scan._history_texts):
                    columns.add_texts(texts)
            else:
                for rows in scan._prefetched(scan._window):
                    columns.add(rows)
        return columns

    def to_arrow(self, progress: bool | None = None) -> pyarrow.Table:
        """Every row as a pyarrow Table (`pip install 'runapi[arrow]'`), read the way
        `to_pandas` reads it (parquet exports first, then GraphQL pages), so every output
        format gets the fast path. `progress` is accepted for compatibility; the read is
        one call.

        ```python
        table = run.scan_history(keys=["loss"]).to_arrow()
        ```
        """
        from ._extras import require
        from ._frames import pandas_to_arrow

        require("pyarrow", "arrow")
        table = self._arrow_from_exports()
        return table if table is not None else pandas_to_arrow(self.to_pandas())

    def _arrow_from_exports(self) -> pyarrow.Table | None:
        """The history as one arrow table straight from the exports (and the live tail's
        columns) when every column is a plain scalar column, or from GraphQL's columns
        when there are no exports (a missing value stays null, a logged NaN stays NaN);
        None when exports hold JSON-text or nested columns, or tables whose types do not
        join: then pandas leads."""
        # None without pyarrow, as without exports
        found = self._exports.parts() if self._ended() else None
        if found is None:  # no exports (a live run, an older server): every row over GraphQL
            with gc_paused():
                pages = max(self._page_size, FAST_PAGE_SIZE)
                return self._tail_columns(self._min_step, pages).to_arrow()
        return joined_arrow(*found, tail=self._tail_arrow)

    def _tail_arrow(self, start: int) -> pyarrow.Table:
        """The rows from step `start` on, paged over GraphQL into an arrow table."""
        with gc_paused():
            tail = self._tail_columns(start, max(self._page_size, FAST_PAGE_SIZE))
            return tail.to_arrow()

    def to_polars(self, progress: bool | None = None) -> polars.DataFrame:
        """Every row as a polars DataFrame (`pip install 'runapi[polars]'`).

        ```python
        frame = run.scan_history().to_polars()
        ```
        """
        from ._extras import require
        from ._frames import arrow_to_polars

        require("polars", "polars")
        return arrow_to_polars(self.to_arrow(progress=progress))

    def __repr__(self) -> str:
        return f"<HistoryScan {self._path} keys={self._keys} page_size={self._page_size}>"
