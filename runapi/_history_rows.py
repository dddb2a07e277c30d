"""History rows as dicts straight from parquet export tables, for iterating a scan.

A table's columns are turned into Python values one column at a time (`to_pylist`, in
C), then zipped into row dicts a batch at a time; a row lacks the keys whose cell is null
(a key the row did not log), as a row decoded from JSON does. Values read back exactly
(NaN, infinities, -0.0, int64, unicode, lists and objects) except one case: an int logged
in a column that also holds floats is stored as a float64, so `1` would read back as
`1.0`. The server names such columns in the schema metadata `runapi.int_floats`;
`exact_rows` is False for a table where one is selected, or that lacks the key (an
older server's), and the caller reads those rows as JSON instead.

```python
if exact_rows(table):
    for rows in table_rows(table):
        ...
```
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import compress, islice, repeat
from operator import is_not, setitem
from time import sleep
from typing import Any

from ._parquet import Content, export_table, last_step

Part = tuple[Any, set[str]] | None
"""An `export_table` result: the table and its JSON-text columns, or None."""

INT_FLOATS_KEY = b"runapi.int_floats"

ROW_BATCH = 16_384
"""Rows turned into dicts at once (memory: one batch of dicts beside the table)."""


def exact_rows(table: Any) -> bool:
    """Whether every value of `table` (an `export_table` result) reads back as logged."""
    raw = (table.schema.metadata or {}).get(INT_FLOATS_KEY)
    if raw is None:
        return False
    try:
        names = json.loads(raw)
    except ValueError:
        return False
    return isinstance(names, list) and not set(map(str, names)) & set(table.column_names)


def _values(column: Any) -> list[Any]:
    """A column's values as Python objects: through numpy for ints, floats and bools
    without nulls (the same values, built twice as fast), else `to_pylist`."""
    import pyarrow as pa

    kind = column.type
    plain = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if plain and not column.null_count:
        values: list[Any] = column.to_numpy(zero_copy_only=False).tolist()
        return values
    return list(column.to_pylist())


def _batch_rows(batch: Any) -> list[dict[str, Any]]:
    """The rows of a record batch, filled column by column (C-level `setitem` passes,
    twice as fast as a dict per row from `zip`); a null cell leaves its key out. Without
    nulls, each row starts as a copy of a dict holding every key (a table copied at
    once, no resizing as keys are added; 10-15% less time), whose values are replaced.

    Each pass ends by giving up the GIL (`sleep(0)`): the threads downloading the next
    exports need it after every 64 KiB socket read, and would otherwise wait out the
    interpreter's switch interval (5 ms) each time while this thread builds rows (a 2 MB
    export then took 40-60 ms to arrive instead of 6, and the scan waited for it)."""
    names = batch.schema.names
    if not any(column.null_count for column in batch.columns):
        template = dict.fromkeys(names)
        rows = list(map(dict.copy, repeat(template, batch.num_rows)))
    else:
        rows = [{} for _ in range(batch.num_rows)]
    for name, column in zip(names, batch.columns, strict=True):
        values = _values(column)
        if column.null_count:
            present = list(map(is_not, values, repeat(None)))
            targets: Iterable[dict[str, Any]] = compress(rows, present)
            values = list(compress(values, present))
        else:
            targets = rows
        deque(map(setitem, targets, repeat(name), values), maxlen=0)
        sleep(0)
    return rows


def table_rows(table: Any, batch_rows: int = ROW_BATCH) -> Iterator[list[dict[str, Any]]]:
    """The rows of `table` as dicts, `batch_rows` at a time (empty batches skipped)."""
    for batch in table.to_batches(max_chunksize=batch_rows):
        if batch.num_rows:
            yield _batch_rows(batch)


def bounded_part(
    content: Content, keys: list[str] | None, min_step: int | None, upper: int | None
) -> tuple[Part, bool]:
    """`export_table` of one export's bytes, and whether the export reaches step `upper`
    (its footer's `_step` statistics), so that the exports after it hold no row below."""
    largest = last_step(content) if upper is not None else None
    reached = upper is not None and largest is not None and largest >= upper - 1
    return export_table(content, keys=keys, min_step=min_step, max_step=upper), reached


def prefetched_parts(
    read: Callable[[str], tuple[Part, bool]], urls: list[str], ahead: int = 1
) -> Generator[Part, None, None]:
    """`read(url)` of each export in order (`bounded_part` of its download), the next
    `ahead` read in threads while the caller uses this one; none after one reaching the
    bound (reads already started then are dropped)."""
    with ThreadPoolExecutor(ahead, thread_name_prefix="runapi-export") as pool:
        rest = iter(urls)
        pending = deque(pool.submit(read, url) for url in islice(rest, ahead))
        try:
            while pending:
                part, reached = pending.popleft().result()
                if reached:
                    yield part
                    return
                after = next(rest, None)
                if after is not None:
                    pending.append(pool.submit(read, after))
                yield part
        finally:
            for future in pending:
                future.cancel()
