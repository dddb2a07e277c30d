"""`Runs`: the runs of a project, lazily paginated, convertible to a DataFrame."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._align import Align, check_align, long_frame, long_frame_of_columns
from ._bulk import DEFAULT_WORKERS, RunRef, check_bulk_args, ref_frames, sampled_columns
from ._context import Context
from ._exceptions import GraphQLError, ProjectNotFoundError, ResponseValidationError
from ._history_requests import check_keys
from ._json import dumps, gc_paused
from ._pagination import Page, Paginator, next_cursor, page_limit
from ._paths import RunPath
from ._progress import Progress, progress_enabled
from ._run import Run
from ._runs_table import (
    E,
    ListingPage,
    NameEdge,
    TablePage,
    cursors_page,
    names_page,
    table_frame,
    table_page,
)
from .filters import Filter

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

T = TypeVar("T")
L = TypeVar("L")

TABLE_PAGE_SIZE = 1000
"""Runs per request when building a table (`to_pandas`): 20 requests for 20,000 runs."""
TABLE_WORKERS = 3
"""Runs-table pages in flight at once (after the first page)."""
NAMES_PAGE_SIZE = 10_000
"""Runs per request when only run ids (and cursors) are listed."""


class Runs(Paginator[Run]):
    """The runs of `entity/project` matching `filters` (a `runapi.filters` filter or W&B's
    MongoDB-style dict), in `order`.

    Lazy: pages of `per_page` runs are fetched as iteration reaches them; `len()` asks
    the server's `runCount`.

    ```python
    runs = api.runs("alice/mnist", filters={"state": "finished"}, order="-created_at")
    len(runs), runs[0].name
    df = runs.to_pandas()
    ```
    """

    def __init__(
        self,
        ctx: Context,
        entity: str,
        project: str,
        *,
        filters: Filter | Mapping[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
    ) -> None:
        if isinstance(filters, Filter):
            filters = filters.to_dict()
        if filters is not None and not isinstance(filters, Mapping):
            raise ValueError(
                f"filters must be a runapi.filters Filter or a MongoDB-style dict, not {filters!r}"
            )
        if not isinstance(order, str) or not order:
            raise ValueError(f"order must be a str such as '-created_at', not {order!r}")
        self._ctx = ctx
        self._entity = entity
        self._project = project
        self._filters = dumps(dict(filters)) if filters else None
        self._order = order
        self._page_limit: int | None = None
        super().__init__(self._page, per_page=per_page, count=self._count_runs)

    @property
    def entity(self) -> str:
        """The entity."""
        return self._entity

    @property
    def project(self) -> str:
        """The project."""
        return self._project

    def _not_found(self) -> ProjectNotFoundError:
        return ProjectNotFoundError(f"project {self._entity}/{self._project} not found")

    def _count_runs(self) -> int:
        client = self._ctx.gql.client
        project = self._ctx.gql.call(
            client.count_runs, self._entity, self._project, filters=self._filters
        )
        if project is None:
            raise self._not_found()
        return project.run_count

    def _sized(self, call: Callable[[int], T], first: int) -> tuple[T, int]:
        """`call(first)`, with `first` lowered to the server's page limit when it refuses a
        larger page (the limit is kept for later pages); returns the answer and the size."""
        if self._page_limit is not None:
            first = min(first, self._page_limit)
        try:
            return call(first), first
        except GraphQLError as exc:
            limit = page_limit(exc)
            if limit is None or limit < 1 or limit >= first:
                raise
        self._page_limit = limit
        return call(limit), limit

    def _listing(self, operation: Callable[..., L | None], first: int, after: str | None) -> L:
        """One page of a runs listing `operation` (every one takes entity, project, filters,
        order, first, after), within the server's page limit; the project, or not found."""

        def call(size: int) -> L | None:
            return self._ctx.gql.call(
                operation,
                self._entity,
                self._project,
                filters=self._filters,
                order=self._order,
                first=size,
                after=after,
            )

        project, _ = self._sized(call, first)
        if project is None:
            raise self._not_found()
        return project

    def _page(self, first: int, after: str | None) -> Page[Run]:
        project = self._listing(self._ctx.gql.client.list_runs, first, after)
        if project.runs is None:
            return Page([], None, False)
        edges = project.runs.edges
        items = [
            Run(self._ctx, RunPath(self._entity, self._project, e.node.name), e.node) for e in edges
        ]
        cursor = next_cursor(project.runs.page_info.end_cursor, edges)
        return Page(items, cursor, project.runs.page_info.has_next_page)

    def _progress_total(self, progress: bool | None) -> int | None:
        return len(self) if progress_enabled(progress) else None

    def _runs_data(self, query: str, operation: str, first: int, after: str | None) -> Any:
        """`project.runs` of one page of a runs listing `query` (taking entity, project,
        filters, order, first, after) as plain JSON, within the server's page limit."""

        def call(size: int) -> dict[str, Any]:
            variables: dict[str, object] = {
                "entity": self._entity,
                "project": self._project,
                "filters": self._filters,
                "order": self._order,
                "first": size,
                "after": after,
            }
            return self._ctx.gql.data(query, operation, variables)

        data, _ = self._sized(call, first)
        project = data.get("project")
        if project is None:
            raise self._not_found()
        if not isinstance(project, dict):
            raise ResponseValidationError(f"GraphQL {operation}: project is not an object")
        return project.get("runs")

    def _table_page(self, first: int, after: str | None) -> TablePage | None:
        """One `ListRunsTable` page as table records (None: the project has no runs
        connection), decoded without pydantic models (`_runs_table`)."""
        from runapi_generated.operations import LIST_RUNS_TABLE_GQL

        runs = self._runs_data(LIST_RUNS_TABLE_GQL, "ListRunsTable", first, after)
        return None if runs is None else table_page(runs)

    def _lean_listing(
        self,
        query: str,
        operation: str,
        decode: Callable[[Any], ListingPage[E]],
        after: str | None = None,
    ) -> Iterator[E]:
        """The edges of every run after `after`, in order, from a lean listing `query`
        (up to `NAMES_PAGE_SIZE` runs a request; decoded by `decode`, no pydantic models)."""
        while True:
            runs = self._runs_data(query, operation, NAMES_PAGE_SIZE, after)
            if runs is None:
                return
            page = decode(runs)
            yield from page.edges
            after = next_cursor(page.end_cursor, page.edges)
            if not page.has_next_page or after is None or not page.edges:
                return

    def _cursors(self) -> list[str]:
        """The cursor of every run, in order (`ListRunCursors`: no run field read)."""
        from runapi_generated.operations import LIST_RUN_CURSORS_GQL

        edges = self._lean_listing(LIST_RUN_CURSORS_GQL, "ListRunCursors", cursors_page)
        return [edge.cursor for edge in edges]

    def _edges(self, after: str | None = None) -> Iterator[NameEdge]:
        """(run id, cursor) of every run after `after`, in order: ids and cursors only."""
        from runapi_generated.operations import LIST_RUN_NAMES_GQL

        return self._lean_listing(LIST_RUN_NAMES_GQL, "ListRunNames", names_page, after)

    def run_ids(self) -> list[str]:
        """The ids of the matching runs, in order: the loaded runs', else one lean listing
        (ids only, up to 10,000 per request).

        ```python
        api.runs("alice/mnist", filters=State == "finished").run_ids()
        ```
        """
        if self._done:
            return [run.id for run in self._items]
        return [name for name, _ in self._edges()]

    def _table_pages(self) -> Iterator[TablePage]:
        """The pages of the runs table from `ListRunsTable` (only the table's fields; no
        `Run` objects), in order, each run once.

        The first page is fetched while one lean `ListRunCursors` listing gives the cursor
        of every run (for a project that fits in the first page the listing is not used).
        Then the pages that start after every N-th cursor are fetched `TABLE_WORKERS` at a
        time, while earlier pages are decoded: plain Relay `after` cursors, so W&B's
        servers allow it too. Runs created after the listing are read by following the
        last page's cursor; a run seen twice (runs deleted meanwhile shift later pages) is
        kept once.
        """
        size = max(self.per_page, TABLE_PAGE_SIZE)
        with ThreadPoolExecutor(TABLE_WORKERS) as pool:
            listing = pool.submit(self._cursors)
            head = self._table_page(size, None)
            if head is None:
                return
            size = min(size, self._page_limit or size)
            after = head.end_cursor
            yield head
            if not head.has_next_page or after is None or not len(head):
                return
            seen = set(head.ids)
            cursors = listing.result()  # every run's: the first page's runs come first
            starts = [after, *(cursors[i - 1] for i in range(2 * size, len(cursors), size))]
            pending = [pool.submit(self._table_page, size, cursor) for cursor in starts]
            try:
                yield from self._in_order(pending, pool, size, seen)
            finally:
                for future in pending:
                    future.cancel()

    def _in_order(
        self,
        pending: list[Future[TablePage | None]],
        pool: ThreadPoolExecutor,
        size: int,
        seen: set[str],
    ) -> Iterator[TablePage]:
        """The `pending` pages in order, without runs already `seen` (see `_table_pages`)."""
        while pending:
            page = pending.pop(0).result()
            if page is None:
                break
            if not pending:  # runs created since the listing: follow the cursor chain
                after = page.end_cursor
                if page.has_next_page and after is not None and len(page):
                    pending.append(pool.submit(self._table_page, size, after))
            fresh = page.without(seen)
            seen.update(fresh.ids)
            yield fresh

    @overload
    def histories(
        self,
        samples: int | None = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        format: Literal["pandas"] = ...,
        *,
        align: Align = ...,
        max_workers: int = ...,
    ) -> pandas.DataFrame: ...
    @overload
    def histories(
        self,
        samples: int | None = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        *,
        format: Literal["polars"],
        align: Align = ...,
        max_workers: int = ...,
    ) -> polars.DataFrame: ...
    @overload
    def histories(
        self,
        samples: int | None = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        *,
        format: Literal["arrow"],
        align: Align = ...,
        max_workers: int = ...,
    ) -> pyarrow.Table: ...
    def histories(
        self,
        samples: int | None = 500,
        keys: list[str] | None = None,
        x_axis: str = "_step",
        format: Literal["pandas", "polars", "arrow"] = "pandas",
        *,
        align: Align = None,
        max_workers: int = DEFAULT_WORKERS,
    ) -> pandas.DataFrame | polars.DataFrame | pyarrow.Table:
        """The histories of all matching runs as one long frame with a `run_id` column, as
        wandb's `Runs.histories` (runs without rows are left out).

        - `samples`: rows per run, sampled by the server as `run.history(samples, keys,
          x_axis)` does; the runs are read up to 25 per request, `max_workers` requests at
          a time. `samples=None` reads every row of every run through the fast full-scan
          path (parquet exports where the server has them, else 10,000-step pages).
        - `align`: put every run on one grid of `x_axis` values (`"_step"`, or a time such
          as `"_runtime"`), linearly interpolating each numeric column, as Comet's
          `get_metrics_df` does: an int for that many evenly spaced points from the smallest
          to the largest x of all runs, or the x values themselves. A run is NaN outside its
          own x range; non-numeric columns are dropped.
        - `format`: `"pandas"`, `"polars"` or `"arrow"` (a `pyarrow.Table`).

        ```python
        df = api.runs("alice/mnist", filters=State == "finished").histories(keys=["loss"])
        full = runs.histories(samples=None, format="polars")
        grid = runs.histories(samples=None, keys=["loss"], align=100)  # 100 shared steps
        ```
        """
        check_bulk_args(samples, max_workers, x_axis)
        checked = check_keys(keys)
        check_align(align)
        if format not in ("pandas", "polars", "arrow"):
            raise ValueError(f"format must be 'pandas', 'polars' or 'arrow', not {format!r}")
        if format != "pandas":
            from ._extras import require

            require("pyarrow", "arrow")
            if format == "polars":
                require("polars", "polars")
        ids = self.run_ids()
        refs = [RunRef(self._ctx, self._entity, self._project, name) for name in ids]
        if samples is not None and align is None:  # one frame, no frame per run
            columns = sampled_columns(
                refs, samples=samples, keys=checked, x_axis=x_axis, max_workers=max_workers
            )
            with gc_paused():
                frame = long_frame_of_columns(ids, columns, x_axis=x_axis)
        else:
            frames = ref_frames(
                refs, samples=samples, keys=checked, x_axis=x_axis, max_workers=max_workers
            )
            frame = long_frame(ids, frames, x_axis=x_axis, align=align)
        if format == "pandas":
            return frame
        from ._frames import arrow_to_polars, pandas_to_arrow

        table = pandas_to_arrow(frame)
        return table if format == "arrow" else arrow_to_polars(table)

    def to_pandas(self, progress: bool | None = None) -> pandas.DataFrame:
        """One row per run: id, name, state, created_at, tags, `config.*`, `summary.*`.

        Nested config and summary dicts are flattened with dots (`config.opt.lr`). A
        progress bar in runs shows on a terminal unless `progress=False`. Runs not
        iterated yet are read in pages of at least 1,000 with only the table's fields
        (no `Run` objects); runs already loaded are used as they are.

        ```python
        df = api.runs("alice/mnist", filters={"state": "finished"}).to_pandas()
        ```
        """
        import pandas

        from ._frames import RUN_COLUMNS, run_record

        total = self._progress_total(progress)
        with Progress(total, unit="runs", label="runs", enabled=progress) as bar, gc_paused():
            if self._items:
                records: list[dict[str, Any]] = []
                for run in self:
                    records.append(run_record(run))
                    bar.update(1)
                columns = None if records else list(RUN_COLUMNS)
                return pandas.DataFrame.from_records(records, columns=columns)
            pages: list[TablePage] = []
            for page in self._table_pages():
                pages.append(page)
                bar.update(len(page))
            return table_frame(pages, list(RUN_COLUMNS))

    def to_arrow(self, progress: bool | None = None) -> pyarrow.Table:
        """The runs table of `to_pandas` as a pyarrow Table (`pip install 'runapi[arrow]'`),
        fetched the same fast way (table pages of lean rows, fetched concurrently).

        ```python
        table = api.runs("alice/mnist").to_arrow()
        ```
        """
        from ._extras import require
        from ._frames import pandas_to_arrow

        require("pyarrow", "arrow")
        return pandas_to_arrow(self.to_pandas(progress=progress))

    def to_polars(self, progress: bool | None = None) -> polars.DataFrame:
        """The runs table as a polars DataFrame (`pip install 'runapi[polars]'`).

        ```python
        frame = api.runs("alice/mnist").to_polars()
        ```
        """
        from ._extras import require
        from ._frames import arrow_to_polars

        require("polars", "polars")
        return arrow_to_polars(self.to_arrow(progress=progress))

    def _repr_html_(self) -> str:
        from ._html import runs_table

        return runs_table(self)

    def __repr__(self) -> str:
        return f"<Runs {self._entity}/{self._project}>"
