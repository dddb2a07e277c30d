"""A full read's DataFrame built from the parquet export parts as they arrive.

Each part's int and float columns are copied into arrays allocated once for the whole
read (`capacity` rows: the run's history line count, which no read exceeds), and the
part's arrow table is dropped at once: the next parts are decoded into the memory it
held. Joining every part in arrow first, as `exports_frame` does, holds all of them
beside the frame: on a 1M x 13 history about 100 MB more memory, touched for the first
time on every read (on a VM that hands freed memory back to its host, a host page fault
per page).

The frame equals `exports_frame` of the same parts: columns in order of first appearance,
a float missing from a part (or null) is NaN, an int column stays int64. A part it cannot
hold that way (another column type, an int column with a null or missing from a part,
more rows than `capacity`) is refused, and the caller continues with `exports_frame`
over `table()` (the rows so far, one arrow table over the same arrays) and the rest.

```python
numbers = NumberFrame(capacity=1_000_000)
for table in tables:
    if not numbers.add(table):
        ...  # exports_frame([(numbers.table(), set()), (table, json_columns), ...])
frame = numbers.frame()
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import pyarrow


class NumberFrame:
    """The rows of export tables added in order, as int64 and float64 arrays of
    `capacity` rows (allocated when a column first appears; pages are touched only as
    rows are copied in). The constructor allocates nothing."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(capacity, 0)
        self._rows = 0
        self._columns: dict[str, Any] = {}  # name -> numpy array, in order of appearance

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._rows

    def _fits(self, table: pyarrow.Table) -> bool:
        """Whether `add(table)` keeps every value exactly as `exports_frame` would."""
        import pyarrow as pa

        if self._rows + table.num_rows > self._capacity:
            return False
        names = set(table.column_names)
        for name in table.column_names:
            column = table.column(name)
            known = self._columns.get(name)
            if pa.types.is_float64(column.type):
                if known is not None and known.dtype.kind != "f":
                    return False
            elif pa.types.is_int64(column.type):
                # an int column stays int64 only with a value in every row of every part
                new_late = known is None and self._rows > 0
                if column.null_count or new_late or (known is not None and known.dtype.kind != "i"):
                    return False
            else:
                return False
        return all(
            values.dtype.kind == "f" for name, values in self._columns.items() if name not in names
        )

    def add(self, table: pyarrow.Table) -> bool:
        """Copy `table`'s rows in after the rows added so far; False (nothing copied) when
        the table cannot be held exactly (see the module docstring)."""
        import numpy

        if table.num_rows == 0:
            return True  # a part with no row in the read's window adds nothing
        if not self._fits(table):
            return False
        start, stop = self._rows, self._rows + table.num_rows
        names = set(table.column_names)
        for name, values in self._columns.items():
            if name not in names:
                values[start:stop] = numpy.nan
        for name in table.column_names:
            column = table.column(name)
            values = self._columns.get(name)
            if values is None:
                values = _pool_array(self._capacity, column.type.to_pandas_dtype())
                if start:
                    values[:start] = numpy.nan  # a float column first logged after row 0
                self._columns[name] = values
            at = start
            for chunk in column.chunks:  # a float's nulls become NaN, as in pandas
                values[at : at + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
                at += len(chunk)
        self._rows = stop
        return True

    def table(self) -> pyarrow.Table:
        """The rows added so far as one arrow table over the same arrays (no copy)."""
        import pyarrow as pa

        rows = self._rows
        return pa.table({name: pa.array(values[:rows]) for name, values in self._columns.items()})

    def frame(self) -> pandas.DataFrame:
        """The rows added so far as a DataFrame over the same arrays (no copy), or over
        copies when they fill less than half the arrays (a read of a window of the run:
        the frame does not keep the rest allocated)."""
        import pandas

        rows = self._rows
        tight = rows * 2 > self._capacity
        columns = {
            name: values[:rows] if tight else values[:rows].copy()
            for name, values in self._columns.items()
        }
        return pandas.DataFrame(columns, index=pandas.RangeIndex(rows), copy=False)


def _pool_array(size: int, dtype: Any) -> Any:
    """An uninitialised numpy array of `size` items over a buffer of arrow's memory pool."""
    import numpy
    import pyarrow as pa

    kind = numpy.dtype(dtype)
    return numpy.frombuffer(pa.allocate_buffer(size * kind.itemsize), dtype=kind)
