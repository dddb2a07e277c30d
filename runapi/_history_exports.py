"""Reading the server's parquet exports of a run's history (`Run.parquetHistory`) for
`HistoryScan`: which exports to read and up to which step, their parts as arrow tables,
and those joined into one frame or table."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx

from . import _rest as rest
from ._context import Context
from ._exceptions import BadRequestError, GraphQLError, ResponseValidationError
from ._export_frame import NumberFrame
from ._history_rows import bounded_part, prefetched_parts
from ._lookup import require_run
from ._parquet import Content, exports_frame, nested_schema, pyarrow_available
from ._paths import RunPath

if TYPE_CHECKING:
    import pandas
    import pyarrow

EXPORT_WORKERS = 4
"""Parquet export parts downloaded and parsed at once by `HistoryScan.to_pandas`."""


class ExportPlan(NamedTuple):
    """What `HistoryExports.plan` found: the export URLs, the step before which their rows
    are read (the live boundary or `max_step`; None: all), the first step to page over
    GraphQL after them (None: no tail), and the run's history line count (at least the
    rows any read of the exports returns; 0 when the server does not say)."""

    urls: list[str]
    upper: int | None
    tail_start: int | None
    line_count: int


def _unknown_field(exc: GraphQLError | BadRequestError) -> bool:
    """Whether the server refused the `parquetHistory` field (an older server)."""
    if isinstance(exc, GraphQLError):
        return any("parquetHistory" in str(e.get("message", "")) for e in exc.errors)
    return "parquetHistory" in str(exc)


class HistoryExports:
    """The parquet exports of the history of the run at `path`, read for a scan of
    `keys` (None: every key) from step `min_step` to before `max_step` (None: unbounded).
    The constructor does no I/O."""

    def __init__(
        self,
        ctx: Context,
        path: RunPath,
        keys: list[str] | None,
        min_step: int | None,
        max_step: int | None,
    ) -> None:
        self._ctx = ctx
        self._path = path
        self._keys = keys
        self._min_step = min_step
        self._max_step = max_step

    def plan(self) -> ExportPlan | None:
        """The exports to read (`ExportPlan`); None when exports cannot be used (no
        pyarrow, an older server, none)."""
        if not pyarrow_available():
            return None
        client = self._ctx.gql.client
        try:
            project = self._ctx.gql.call(
                client.get_run_parquet_history,
                self._path.entity,
                self._path.project,
                self._path.run_id,
                live_keys=["_step"],
            )
        except (GraphQLError, BadRequestError) as exc:
            if _unknown_field(exc):
                return None
            raise
        run = require_run(project, self._path)
        parquet = run.parquet_history
        if not parquet.parquet_urls:
            return None
        live_steps = [
            row["_step"]
            for row in parquet.live_data
            if isinstance(row, dict) and isinstance(row.get("_step"), int | float)
        ]
        boundary = int(min(live_steps)) if live_steps else None
        upper = self._max_step
        if boundary is not None:
            upper = boundary if upper is None else min(boundary, upper)
        tail = None if boundary is None else max(boundary, self._min_step or boundary)
        return ExportPlan(list(parquet.parquet_urls), upper, tail, run.history_line_count or 0)

    def part(self, url: str, upper: int | None) -> tuple[tuple[Any, set[str]] | None, bool]:
        """`export_table` of one export, and whether it reaches step `upper`."""
        return bounded_part(self._download(url), self._keys, self._min_step, upper)

    def parts(self) -> tuple[list[tuple[Any, set[str]]], int | None] | None:
        """The exports as arrow tables (`export_table` results, in order) and the first
        step to page over GraphQL after them; None as in `frames`."""
        plan = self.plan()
        if plan is None:
            return None
        urls, upper, tail_start, _ = plan
        # Parts are downloaded and parsed a few at a time (parsing releases the GIL), then
        # joined in arrow and converted to pandas once.
        with ThreadPoolExecutor(EXPORT_WORKERS, thread_name_prefix="runapi-export") as pool:
            parts = [part for part, _ in pool.map(self.part, urls, [upper] * len(urls))]
        found = [p for p in parts if p is not None]
        if len(found) != len(parts):
            return None
        return found, tail_start

    def frames(self) -> tuple[list[pandas.DataFrame], int | None] | None:
        """Frames of the server's exports and the first step to page over GraphQL after
        them (None: no tail); None when exports cannot be used (no pyarrow, an older
        server, no exports, or exports without integer steps).

        Parts are downloaded and parsed `EXPORT_WORKERS` at a time and taken in order:
        their number columns are copied into one frame's arrays as each arrives
        (`NumberFrame`); from a part it cannot hold on, the parts are joined in arrow and
        converted once (`exports_frame`)."""
        plan = self.plan()
        if plan is None:
            return None
        numbers = NumberFrame(self._capacity(plan))
        rest: list[tuple[Any, set[str]]] = []
        read = partial(self.part, upper=plan.upper)
        with closing(prefetched_parts(read, plan.urls, EXPORT_WORKERS)) as parts:
            for part in parts:
                if part is None:
                    return None
                if not rest and not part[1] and numbers.add(part[0]):
                    continue
                if not rest:
                    rest.append((numbers.table(), set()))
                rest.append(part)
        return [exports_frame(rest) if rest else numbers.frame()], plan.tail_start

    def _capacity(self, plan: ExportPlan) -> int:
        """The rows to allocate the frame's arrays for: the run's history lines, or the
        steps of the read's window when fewer (more rows than that only make the parts
        hand over to the arrow join)."""
        if plan.upper is None:
            return plan.line_count
        return max(0, min(plan.line_count, plan.upper - (self._min_step or 0)))

    def _download(self, url: str) -> Content:
        """One export's bytes (`pool_body`)."""
        what = "GET history export"
        with rest.stream(self._ctx, url, what=what, signed=True, ok=_is_200) as response:
            return pool_body(response, what)


def joined_arrow(
    parts: list[tuple[Any, set[str]]],
    tail_start: int | None,
    tail: Callable[[int], pyarrow.Table],
) -> pyarrow.Table | None:
    """The export `parts` (`HistoryExports.parts`) and, from step `tail_start` on, the
    `tail(tail_start)` table read over GraphQL, joined into one arrow table when every
    column is a plain scalar column; None when exports hold JSON-text or nested columns,
    or tables whose types do not join."""
    import pyarrow as pa

    tables = [table for table, json_columns in parts if not json_columns]
    if len(tables) != len(parts) or any(map(nested_schema, (t.schema for t in tables))):
        return None
    if tail_start is not None:
        tables.append(tail(tail_start))
    tables = [t for t in tables if t.num_columns]
    if not tables:
        return pa.table({})
    try:
        joined: pyarrow.Table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return joined


def pool_body(response: httpx.Response, what: str) -> Content:
    """The body of a streamed `response` as one `pyarrow.Buffer` of arrow's memory pool,
    which keeps the pages it frees for the next part: a new `bytes` of several MB is
    memory the process has not touched yet, and on a VM that hands freed memory back to
    its host each of its pages costs a fault (a 1M x 13 full read faulted 100 MB of pages
    where reading the same files locally faulted 4 MB). As `bytes` when the response does
    not say its length up front, or is encoded."""
    import pyarrow as pa

    length = response.headers.get("Content-Length", "")
    if not length.isdigit() or response.headers.get("Content-Encoding", "identity") != "identity":
        return b"".join(response.iter_bytes())
    size = int(length)
    buffer = pa.allocate_buffer(size)
    view = memoryview(buffer).cast("B")
    at = 0
    for chunk in response.iter_raw():
        end = at + len(chunk)
        if end <= size:
            view[at:end] = chunk
        at = end
    if at != size:
        raise ResponseValidationError(f"{what}: the body does not have its {size} bytes")
    return buffer


def _is_200(response: httpx.Response) -> bool:
    """Exports are whole-file GETs: anything but 200 (a 206, a redirect) is an error."""
    return response.status_code == 200
