"""History and runs tables as pyarrow tables and polars frames (optional extras).

One frame path per result kind: a history or a runs table is fetched once, the fast way
(parquet exports, table pages), into pandas; arrow and polars are converted from that
frame (`pandas_to_arrow`, `arrow_to_polars`), so every format gets the same fetch.
pyarrow and polars are imported only when asked for; a missing one raises
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
        series = frame[name]
        if series.dtype.kind in "biufcmM":
            # Numbers and times as stored: a float NaN stays NaN (not null).
            arrays[str(name)] = pa.array(series.to_numpy())
            continue
        try:
            # Strings (pandas' str dtype marks missing with NaN) and objects: missing -> null.
            arrays[str(name)] = pa.Array.from_pandas(series)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            missing = series.isna().to_numpy()
            values = [None if gone else v for v, gone in zip(series.tolist(), missing, strict=True)]
            arrays[str(name)] = arrow_column(pa, values)
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
