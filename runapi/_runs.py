"""`Runs`: the runs of a project, lazily paginated, convertible to a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._context import Context
from ._exceptions import ProjectNotFoundError
from ._json import dumps
from ._pagination import Page, Paginator
from ._paths import RunPath
from ._progress import Progress, progress_enabled
from ._run import Run

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow


class Runs(Paginator[Run]):
    """The runs of `entity/project` matching `filters`, in `order`.

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
        filters: Mapping[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
    ) -> None:
        if filters is not None and not isinstance(filters, Mapping):
            raise ValueError(f"filters must be a dict (MongoDB-style), not {filters!r}")
        if not isinstance(order, str) or not order:
            raise ValueError(f"order must be a str such as '-created_at', not {order!r}")
        self._ctx = ctx
        self._entity = entity
        self._project = project
        self._filters = dumps(dict(filters)) if filters else None
        self._order = order
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

    def _page(self, first: int, after: str | None) -> Page[Run]:
        client = self._ctx.gql.client
        project = self._ctx.gql.call(
            client.list_runs,
            self._entity,
            self._project,
            filters=self._filters,
            order=self._order,
            first=first,
            after=after,
        )
        if project is None:
            raise self._not_found()
        if project.runs is None:
            return Page([], None, False)
        edges = project.runs.edges
        items = [
            Run(self._ctx, RunPath(self._entity, self._project, e.node.name), e.node) for e in edges
        ]
        cursor = project.runs.page_info.end_cursor or (edges[-1].cursor if edges else None)
        return Page(items, cursor, project.runs.page_info.has_next_page)

    def _progress_total(self, progress: bool | None) -> int | None:
        return len(self) if progress_enabled(progress) else None

    def to_pandas(self, progress: bool | None = None) -> pandas.DataFrame:
        """One row per run: id, name, state, created_at, tags, `config.*`, `summary.*`.

        Nested config and summary dicts are flattened with dots (`config.opt.lr`). A
        progress bar in runs shows on a terminal unless `progress=False`.
        """
        import pandas

        from ._frames import RUN_COLUMNS, run_record

        total = self._progress_total(progress)
        with Progress(total, unit="runs", label="runs", enabled=progress) as bar:
            records: list[dict[str, Any]] = []
            for run in self:
                records.append(run_record(run))
                bar.update(1)
        columns = list(RUN_COLUMNS)
        return pandas.DataFrame.from_records(records, columns=None if records else columns)

    def to_arrow(self, progress: bool | None = None) -> pyarrow.Table:
        """The runs table of `to_pandas` as a pyarrow Table (`pip install 'runapi[arrow]'`).

        ```python
        table = api.runs("alice/mnist").to_arrow()
        ```
        """
        from ._frames import require, runs_to_arrow

        require("pyarrow", "arrow")
        return runs_to_arrow(self, progress=progress, total=self._progress_total(progress))

    def to_polars(self, progress: bool | None = None) -> polars.DataFrame:
        """The runs table as a polars DataFrame (`pip install 'runapi[polars]'`).

        ```python
        frame = api.runs("alice/mnist").to_polars()
        ```
        """
        from ._frames import arrow_to_polars, require

        require("polars", "polars")
        return arrow_to_polars(self.to_arrow(progress=progress))

    def _repr_html_(self) -> str:
        from ._html import runs_table

        return runs_table(self)

    def __repr__(self) -> str:
        return f"<Runs {self._entity}/{self._project}>"
