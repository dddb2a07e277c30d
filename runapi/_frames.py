"""History and runs tables as pyarrow tables and polars frames (optional extras).

pyarrow and polars are imported only here, only when asked for; a missing one raises
`MissingDependencyError` naming the extra to install.

```python
table = run.scan_history(keys=["loss"]).to_arrow()   # pip install 'runapi[arrow]'
frame = api.runs("alice/mnist").to_polars()          # pip install 'runapi[polars]'
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._extras import require
from ._json import ColumnBuilder, arrow_column, flatten
from ._progress import Progress

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

    from ._run import Run

RUN_COLUMNS = ("id", "name", "state", "created_at", "tags")
"""The fixed leading columns of a runs table; `config.*` and `summary.*` follow."""


def rows_to_arrow(
    pages: Iterable[list[dict[str, Any]]],
    *,
    progress: bool | None = None,
    total: int | None = None,
    label: str = "history",
) -> pyarrow.Table:
    """Pages of history rows as one pyarrow Table, with a progress bar in rows.

    ```python
    table = rows_to_arrow(run.scan_history().pages(), total=run.history_line_count)
    ```
    """
    require("pyarrow", "arrow")
    builder = ColumnBuilder()
    with Progress(total, unit="rows", label=label, enabled=progress) as bar:
        for page in pages:
            builder.add(page)
            bar.update(len(page))
    return builder.to_arrow()


def pandas_to_arrow(frame: pandas.DataFrame) -> pyarrow.Table:
    """A pyarrow Table of a DataFrame, column by column (NaN kept as NaN); a column of
    mixed types becomes JSON text, as in every other table here."""
    pa = require("pyarrow", "arrow")
    arrays = {}
    for name in frame.columns:
        values = frame[name].to_numpy()
        try:
            arrays[str(name)] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[str(name)] = arrow_column(pa, values.tolist())
    table: pyarrow.Table = pa.table(arrays) if arrays else pa.table({})
    return table


def arrow_to_polars(table: pyarrow.Table) -> polars.DataFrame:
    """A polars DataFrame of a pyarrow Table."""
    pl = require("polars", "polars")
    frame: polars.DataFrame = pl.from_arrow(table)
    return frame


def run_record(run: Run) -> dict[str, Any]:
    """One row of a runs table: id, name, state, created_at, tags, `config.*`, `summary.*`.

    ```python
    run_record(run)["config.lr"]
    ```
    """
    record: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "state": run.state,
        "created_at": run.created_at,
        "tags": list(run.tags),
    }
    record.update(flatten(run.config, "config"))
    record.update(flatten(run.summary, "summary"))
    return record


def runs_to_arrow(
    runs: Iterable[Run], *, progress: bool | None = None, total: int | None = None
) -> pyarrow.Table:
    """A runs table (see `run_record`) as a pyarrow Table, with a progress bar in runs."""
    pa = require("pyarrow", "arrow")
    builder = ColumnBuilder()
    with Progress(total, unit="runs", label="runs", enabled=progress) as bar:
        for run in runs:
            builder.add([run_record(run)])
            bar.update(1)
    if builder.row_count == 0:
        empty: pyarrow.Table = pa.table({name: pa.array([], pa.null()) for name in RUN_COLUMNS})
        return empty
    return builder.to_arrow()
