"""Reading the server's parquet history exports (`Run.parquetHistory`), when pyarrow is there.

The core client does not need pyarrow: `pyarrow_available()` says whether this path can be
used (`pip install "runapi[arrow]"`). Exports hold native columns: int64, float64, string,
bool, and lists / structs of them for nested values (read here as Python lists and dicts,
never numpy arrays), so a frame from exports equals one built from GraphQL pages. Exports
of older servers may also hold JSON-text columns for nested or mixed values, named in the
schema metadata `runapi.json_columns`; those are decoded back to Python values.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._exceptions import ResponseValidationError

if TYPE_CHECKING:
    import pandas

JSON_COLUMNS_KEY = b"runapi.json_columns"

Content = Any
"""An export's bytes: `bytes`, or a `pyarrow.Buffer` (a download into arrow's pool)."""


def pyarrow_available() -> bool:
    """Whether pyarrow can be imported (without importing it)."""
    return importlib.util.find_spec("pyarrow") is not None


def decode_json_texts(texts: Sequence[str | None], what: str) -> list[Any]:
    """JSON texts (None: missing) to values with one `json.loads` over the non-missing ones."""
    present = [t for t in texts if t is not None]
    try:
        values = json.loads("[" + ",".join(present) + "]") if present else []
    except ValueError as exc:
        raise ResponseValidationError(f"{what} holds invalid JSON: {exc}") from exc
    if len(values) != len(present):
        raise ResponseValidationError(f"{what} does not hold one JSON value per row")
    if len(present) == len(texts):
        return list(values)
    it = iter(values)
    return [None if t is None else next(it) for t in texts]


def exports_frame(parts: Sequence[tuple[Any, set[str]]]) -> pandas.DataFrame:
    """One DataFrame of several exports' tables (`export_table` results, in order): the
    tables joined in arrow and converted once (no frame per part, no second copy in a
    concat), or, when their column types differ, a frame per part concatenated."""
    import pandas
    import pyarrow as pa

    tables = [table for table, _ in parts if table.num_columns]
    if not tables:
        return pandas.DataFrame()
    if all(not json_columns for _, json_columns in parts):
        try:
            joined = pa.concat_tables(tables, promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        else:
            return _to_pandas(joined, set())
    frames = [_to_pandas(*part) for part in parts if part[0].num_columns]
    if len(frames) == 1:
        return frames[0]
    return pandas.concat(frames, ignore_index=True, sort=False)


def _nested_in(key: str, columns: list[str]) -> bool:
    """Whether a dotted ``key`` may name a value inside one of ``columns``
    (``"grad.norm"`` in a ``grad`` column)."""
    return any(key[:i] in columns for i, char in enumerate(key) if char == ".")


def export_table(
    content: Content,
    *,
    keys: list[str] | None,
    min_step: int | None,
    max_step: int | None,
) -> tuple[Any, set[str]] | None:
    """One export as a `pyarrow.Table` filtered like a scan, and the names of its JSON-text
    columns (exports of older servers); None when it cannot be used.

    `keys` keeps rows holding every key, reduced to those keys (as `sampledHistory`);
    steps are kept in `[min_step, max_step)`. None when the export has no `_step` column
    or a row without a step (the caller then reads GraphQL pages).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # One file, read without the dataset layer (`read_table`: 7 ms of imports on first
    # use and more Python per part) and in the calling thread: parts are read in the
    # client's worker threads already, and a read in arrow's pool still running when the
    # interpreter exits (a scan left suspended) aborts the process.
    try:
        table = pq.ParquetFile(pa.BufferReader(content)).read(use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise ResponseValidationError(f"history export is not a parquet file: {exc}") from exc
    metadata = table.schema.metadata or {}
    try:
        json_columns = set(json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]")))
    except ValueError as exc:
        raise ResponseValidationError(f"history export metadata is invalid: {exc}") from exc
    if "_step" not in table.column_names or table.column("_step").null_count:
        return None
    if "_step" in json_columns or not pa.types.is_integer(table.column("_step").type):
        return None
    mask = None
    steps = table.column("_step")
    if min_step is not None:
        mask = pc.greater_equal(steps, min_step)
    if max_step is not None:
        upper = pc.less(steps, max_step)
        mask = upper if mask is None else pc.and_(mask, upper)
    if keys is not None:
        wanted = keys if "_step" in keys else [*keys, "_step"]
        missing = [k for k in wanted if k not in table.column_names]
        if any(_nested_in(k, table.column_names) for k in missing):
            return None  # a value inside an object column: the server picks it (GraphQL)
        if missing:
            return table.slice(0, 0).select([]), set()
        for key in wanted:
            valid = pc.is_valid(table.column(key))
            mask = valid if mask is None else pc.and_(mask, valid)
        table = table.select(wanted)
    if mask is not None and not pc.all(mask).as_py():  # no copy when every row is kept
        table = table.filter(mask)
    # Like a frame built from rows: only keys some row holds, in order of first appearance.
    first: dict[str, int] = {}
    for name in table.column_names:
        column = table.column(name)
        if not column.null_count and len(column):
            first[name] = 0
            continue
        position = pc.index(pc.is_valid(column), True).as_py()
        if position >= 0:
            first[name] = position
    order = sorted(first, key=first.__getitem__)
    if order != table.column_names:
        table = table.select(order)
    return table, json_columns & set(table.column_names)


def last_step(content: Content) -> int | None:
    """The largest `_step` of an export, from its footer's statistics (None: not
    recorded), without reading its columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(pa.BufferReader(content))
    except (pa.ArrowException, OSError):
        return None
    largest: int | None = None
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.path_in_schema != "_step":
                continue
            stats = column.statistics
            if stats is None or not stats.has_min_max or not isinstance(stats.max, int):
                return None
            largest = stats.max if largest is None else max(largest, stats.max)
    return largest


def _nested(data_type: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_struct(data_type)
        or pa.types.is_list(data_type)
        or pa.types.is_large_list(data_type)
        or pa.types.is_fixed_size_list(data_type)
        or pa.types.is_map(data_type)
    )


def nested_schema(schema: Any) -> bool:
    """Whether an arrow schema has a struct, list or map column (pandas decodes those)."""
    return any(_nested(field.type) for field in schema)


def _to_pandas(table: Any, json_columns: set[str]) -> pandas.DataFrame:
    import pandas
    import pyarrow as pa

    nested = {f.name for f in table.schema if _nested(f.type)} - json_columns
    objects = json_columns | nested
    plain = table.drop_columns(list(objects)) if objects else table
    frame = _plain_frame(plain)
    for name in json_columns:
        values = decode_json_texts(table.column(name).to_pylist(), f"history column {name!r}")
        frame[name] = pandas.Series(values, index=frame.index, dtype=object)
    for name in nested:
        try:
            values = table.column(name).to_pylist(maps_as_pydicts="strict")
        except (pa.ArrowException, KeyError, ValueError) as exc:
            raise ResponseValidationError(f"history column {name!r}: {exc}") from exc
        frame[name] = pandas.Series(values, index=frame.index, dtype=object)
    if objects:
        frame = frame[table.column_names]
    return frame


def _numbers(column: Any) -> Any:
    """A chunked int / float column without nulls as one new numpy array (None for any
    other column), its chunks copied in turn into an array numpy allocated: pyarrow's own
    conversion joins chunks into memory without huge pages, and on a 1M-row history that
    fresh memory's page faults were most of the conversion (about 200 ms of 250 ms for
    13 columns right after a pause; numpy asks the kernel for huge pages)."""
    import numpy
    import pyarrow as pa

    kind = column.type
    if column.null_count or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    values = numpy.empty(len(column), dtype=kind.to_pandas_dtype())
    at = 0
    for chunk in column.chunks:
        values[at : at + len(chunk)] = chunk.to_numpy(zero_copy_only=True)
        at += len(chunk)
    return values


def _plain_frame(table: Any) -> pandas.DataFrame:
    """`table.to_pandas(split_blocks=True)` (scalar columns), with its int and float
    columns without nulls joined by `_numbers`: the same frame, built faster."""
    import pandas

    if table.num_rows == 0 or table.num_columns == 0:
        converted: pandas.DataFrame = table.to_pandas(split_blocks=True)
        return converted
    numbers = {name: _numbers(table.column(name)) for name in table.column_names}
    others = [name for name, values in numbers.items() if values is None]
    rest = table.select(others).to_pandas(split_blocks=True) if others else pandas.DataFrame()
    columns = {name: rest[name] if values is None else values for name, values in numbers.items()}
    return pandas.DataFrame(columns, index=pandas.RangeIndex(table.num_rows), copy=False)
