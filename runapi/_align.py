"""Many runs' histories as one long frame, optionally aligned on a common x grid.

Alignment is linear interpolation of each run's numeric columns at shared x values (a step
or time grid), as Comet's `get_metrics_df(interpolate=True)` does: a run contributes NaN
outside its own x range (no extrapolation), and rows whose x is missing are left out.

```python
long = long_frame(["a", "b"], [frame_a, frame_b], x_axis="_step", align=5)
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy
    import pandas

    from ._json import ColumnBuilder

RUN_ID = "run_id"
"""The column naming each row's run (wandb's `Runs.histories` uses the same name)."""

Align = int | Sequence[float] | None
"""No alignment, a number of evenly spaced grid points, or the grid's x values."""


def check_align(align: object) -> None:
    """`ValueError` unless `align` is None, an int >= 2 or a non-empty list of numbers."""
    if align is None:
        return
    if isinstance(align, bool | str | bytes):
        raise ValueError(f"align must be None, an int >= 2 or a list of x values, not {align!r}")
    if isinstance(align, int):
        if align < 2:
            raise ValueError(f"align must be an int >= 2 (grid points), not {align!r}")
        return
    if not isinstance(align, Sequence) or not align:
        raise ValueError(f"align must be None, an int >= 2 or a list of x values, not {align!r}")
    for value in align:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"align's x values must be numbers, not {value!r}")


def _grid(frames: list[pandas.DataFrame], x_axis: str, align: int | Sequence[float]) -> Any:
    import numpy

    if not isinstance(align, int):
        return numpy.sort(numpy.asarray(align, dtype="float64"))
    lows, highs = [], []
    for frame in frames:
        if x_axis in frame.columns:
            x = frame[x_axis].to_numpy(dtype="float64", na_value=numpy.nan)
            x = x[~numpy.isnan(x)]
            if len(x):
                lows.append(x.min())
                highs.append(x.max())
    if not lows:
        return numpy.array([], dtype="float64")
    return numpy.linspace(min(lows), max(highs), align)


def _interpolated(frame: pandas.DataFrame, x_axis: str, grid: numpy.ndarray) -> pandas.DataFrame:
    """`frame`'s numeric columns at the `grid` x values (NaN outside each column's range)."""
    import numpy
    import pandas

    columns: dict[str, numpy.ndarray] = {x_axis: grid}
    if x_axis not in frame.columns or not len(grid):
        return pandas.DataFrame(columns)
    x_all = frame[x_axis].to_numpy(dtype="float64", na_value=numpy.nan)
    for name in frame.columns:
        if name == x_axis or not pandas.api.types.is_numeric_dtype(frame[name].dtype):
            continue
        if pandas.api.types.is_bool_dtype(frame[name].dtype):
            continue
        y_all = frame[name].to_numpy(dtype="float64", na_value=numpy.nan)
        keep = ~(numpy.isnan(x_all) | numpy.isnan(y_all))
        x, y = x_all[keep], y_all[keep]
        values = numpy.full(len(grid), numpy.nan)
        if len(x):
            order = numpy.argsort(x, kind="stable")
            x, y = x[order], y[order]
            inside = (grid >= x[0]) & (grid <= x[-1])
            values[inside] = numpy.interp(grid[inside], x, y)
        columns[name] = values
    return pandas.DataFrame(columns)


def long_frame(
    run_ids: list[str],
    frames: list[pandas.DataFrame],
    *,
    x_axis: str = "_step",
    align: Align = None,
) -> pandas.DataFrame:
    """One frame of every run's rows with a leading `run_id` column; runs without rows are
    left out. With `align`, each run is interpolated at a common grid of `x_axis` values:
    `align` evenly spaced points from the smallest to the largest x of all runs, or the
    given x values; only numeric columns are kept.

    ```python
    long_frame(["a"], [pandas.DataFrame({"_step": [0, 10], "loss": [1.0, 0.0]})], align=3)
    # run_id _step loss: a 0.0 1.0 / a 5.0 0.5 / a 10.0 0.0
    ```
    """
    import pandas

    parts = []
    if align is not None:
        grid = _grid(frames, x_axis, align)
        frames = [_interpolated(frame, x_axis, grid) for frame in frames]
    for run_id, frame in zip(run_ids, frames, strict=True):
        if not len(frame):
            continue
        frame = frame.reset_index(drop=True)
        frame.insert(0, RUN_ID, run_id)
        parts.append(frame)
    if not parts:
        return pandas.DataFrame({RUN_ID: pandas.Series([], dtype="object")})
    if len(parts) == 1:
        return parts[0]
    return pandas.concat(parts, ignore_index=True, sort=False)


def _same_arrays(parts: list[dict[str, Any]]) -> bool:
    """Whether every part has the same column names, in order, each a numpy array of the
    same dtype in every part."""
    first = parts[0]
    names = list(first)
    dtypes = [getattr(first[name], "dtype", None) for name in names]
    if any(dtype is None for dtype in dtypes):  # (a float64 dtype == None in numpy)
        return False
    for part in parts[1:]:
        if list(part) != names:
            return False
        if [getattr(part[name], "dtype", None) for name in names] != dtypes:
            return False
    return True


def long_frame_of_columns(
    run_ids: list[str], columns: list[ColumnBuilder], *, x_axis: str = "_step"
) -> pandas.DataFrame:
    """`long_frame(run_ids, [c.to_pandas() for c in columns])` (no alignment), equal to it
    in values, dtypes and column order, built in one step when every run with rows has the
    same columns of the same numpy dtypes (the usual case: numeric metrics logged by every
    run): each column is one concatenation, and no frame per run is made.

    ```python
    long_frame_of_columns(["a", "b"], [columns_a, columns_b])
    ```
    """
    import numpy
    import pandas

    kept = [(run_id, c) for run_id, c in zip(run_ids, columns, strict=True) if len(c)]
    parts = [c.arrays() for _, c in kept]
    if len(parts) < 2 or not _same_arrays(parts):
        frames = [c.to_pandas() for c in columns]
        return long_frame(run_ids, frames, x_axis=x_axis)
    ids = [run_id for run_id, _ in kept]
    counts = [len(c) for _, c in kept]
    # the ids as pandas makes a column of them, repeated (a take: no conversion per row)
    data: dict[str, Any] = {RUN_ID: pandas.Series(ids).repeat(counts).reset_index(drop=True)}
    for name in parts[0]:
        data[name] = numpy.concatenate([part[name] for part in parts])
    return pandas.DataFrame(data)
