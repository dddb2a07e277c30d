"""Arrow tables of history rows that hold exactly the values logged (see
:mod:`runapi_server.parquet_export` for why each column type is what it is).

- ints ``int64``; numbers ``float64`` (ints in it only up to 2**53, so they stay exact);
  strings ``string``; booleans ``bool``;
- lists ``list<T>`` of one item type (JSON nulls inside are null items);
- objects ``struct`` when every object of the key has the same key set (at least one key;
  a missing field would read back as a null), nested to any depth.

A missing key is a null cell; a top-level JSON null, an empty object, objects of one key
with differing key sets or a key switching type do not fit a column: a table holds the
longest run of leading rows that fit.

The schema metadata ``runapi.int_floats`` (a JSON list) names the columns where a
``float64`` (at any depth) holds a value logged as an int, so a reader building Python
rows knows which floats to leave to JSON (`1` reads back as `1.0` there); a table
without the key (written by an older server) says nothing either way.

```python
rows_table(['{"_step": 0, "h": {"bins": [0, 1]}}', '{"_step": 1}']).num_rows  # -> 2
```
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_INT_LIMIT = 2**63
_FLOAT_EXACT = 2**53
INT_FLOATS_KEY = b"runapi.int_floats"


class _Missing:
    """Marks a key a row does not have (distinct from a JSON null)."""


MISSING = _Missing()


class _Unfit(Exception):
    """A value that no single arrow type holds exactly together with the values before it."""


@dataclass(frozen=True)
class _List:
    item: Shape | None  # None: no item seen yet


@dataclass(frozen=True)
class _Struct:
    fields: tuple[tuple[str, Shape | None], ...]  # in order of first appearance
    names: frozenset[str]


# Scalars: "null" (JSON null, nested values only), "bool", "int" (|v| <= 2**53, so a
# float64 holds it exactly), "bigint" (int64 only), "float", "str".
Shape = str | _List | _Struct
_SCALAR_KIND: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
}
_NUMBER_MERGE = {
    frozenset({"int", "float"}): "float",
    frozenset({"int", "bigint"}): "bigint",
}


def _int_kind(value: int) -> str:
    if -_FLOAT_EXACT <= value <= _FLOAT_EXACT:
        return "int"
    if -_INT_LIMIT <= value < _INT_LIMIT:
        return "bigint"
    raise _Unfit


def _merge_kind(shape: Shape | None, kind: str) -> Shape:
    """``shape`` widened to also hold a scalar of ``kind``."""
    if shape is None or shape == "null" or shape == kind:
        return kind
    if kind == "null":
        return shape
    if isinstance(shape, str):
        merged = _NUMBER_MERGE.get(frozenset({shape, kind}))
        if merged is not None:
            return merged
    raise _Unfit


def _merge(shape: Shape | None, value: Any) -> Shape:
    """``shape`` widened to also hold ``value`` exactly; raises `_Unfit` when none does."""
    kind = _SCALAR_KIND.get(type(value))
    if kind == "int":
        return _merge_kind(shape, _int_kind(value))
    if kind is not None:
        return _merge_kind(shape, kind)
    if type(value) is list:
        if shape is not None and shape != "null" and not isinstance(shape, _List):
            raise _Unfit
        item = shape.item if isinstance(shape, _List) else None
        kinds = set(map(type, value))
        if kinds <= _SCALAR_KIND.keys():  # fast path: a list of scalars
            for t in kinds:
                if t is int:
                    ints = value if len(kinds) == 1 else [v for v in value if type(v) is int]
                    item = _merge_kind(
                        _merge_kind(item, _int_kind(min(ints))), _int_kind(max(ints))
                    )
                else:
                    item = _merge_kind(item, _SCALAR_KIND[t])
        else:
            for v in value:
                item = _merge(item, v)
        return _List(item)
    if type(value) is dict:
        if not value:  # a struct needs at least one field to be written
            raise _Unfit
        if shape is None or shape == "null":
            fields = tuple((name, _merge(None, v)) for name, v in value.items())
            return _Struct(fields, frozenset(value))
        if not isinstance(shape, _Struct) or value.keys() != shape.names:
            raise _Unfit  # a missing field would read back as a null
        fields = tuple((name, _merge(s, value[name])) for name, s in shape.fields)
        return _Struct(fields, shape.names)
    raise _Unfit


def _fit(values: Sequence[Any]) -> tuple[int, Shape | None, bool]:
    """How many of one key's leading values (`MISSING` where a row lacks the key) one
    column holds exactly, their shape, and whether a float column of all of them holds
    an int at its top level (`_ints_as_floats` without a second pass over the values). A
    JSON null at the top level would read back like a missing key, so it does not fit."""
    kinds = set(map(type, values))
    kinds.discard(_Missing)
    if len(kinds) <= 1 and kinds <= {bool, float, str}:  # fast paths: plain scalars
        return len(values), (_SCALAR_KIND[kinds.pop()] if kinds else None), False
    if int in kinds and kinds <= {int, float}:
        ints = [v for v in values if type(v) is int]
        try:
            low, high = _int_kind(min(ints)), _int_kind(max(ints))
        except _Unfit:
            pass
        else:
            if float not in kinds:
                return len(values), "int" if low == high == "int" else "bigint", False
            if low == high == "int":
                return len(values), "float", True
    shape: Shape | None = None
    for index, value in enumerate(values):
        if value is MISSING:
            continue
        if value is None:
            return index, shape, False
        try:
            shape = _merge(shape, value)
        except _Unfit:
            return index, shape, False
    return len(values), shape, shape == "float" and int in kinds


def _arrow_type(shape: Shape | None) -> Any:
    import pyarrow as pa

    if isinstance(shape, _List):
        return pa.list_(_arrow_type(shape.item))
    if isinstance(shape, _Struct):
        return pa.struct([pa.field(name, _arrow_type(s)) for name, s in shape.fields])
    return {
        None: pa.null(),
        "null": pa.null(),
        "bool": pa.bool_(),
        "int": pa.int64(),
        "bigint": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
    }[shape]


def _column(values: Sequence[Any], shape: Shape | None, missing: bool) -> Any:
    """The arrow array of one key's values (`MISSING`: a null, when ``missing``), all of
    ``shape``."""
    import pyarrow as pa

    plain = [None if v is MISSING else v for v in values] if missing else values
    return pa.array(plain, type=_arrow_type(shape))


def _columns(
    rows: Sequence[dict[str, Any]],
) -> tuple[tuple[str, ...], list[Sequence[Any]], bool]:
    """Key names in order of appearance, each key's values (`MISSING` where absent) and
    whether any is absent."""
    shapes = dict.fromkeys(map(tuple, rows))
    if len(shapes) == 1:
        (names,) = shapes
        return names, list(zip(*map(dict.values, rows), strict=True)), False
    names = tuple(dict.fromkeys(key for shape in shapes for key in shape))
    return names, [[row.get(name, MISSING) for row in rows] for name in names], True


def rows_table(texts: Sequence[str]) -> Any:
    """A `pyarrow.Table` of the longest run of leading history rows (stored JSON texts)
    that native columns hold exactly, columns in order of appearance (see the module
    docstring); it has no rows when even the first row does not fit.

    ```python
    rows_table(['{"_step": 0, "h": {"bins": [0, 1]}}', '{"_step": 1}']).num_rows  # -> 2
    rows_table(['{"_step": 0, "x": 1}', '{"_step": 1, "x": "a"}']).num_rows  # -> 1
    ```
    """
    return _table(json.loads("[" + ",".join(texts) + "]"))


Columns = tuple[tuple[str, ...], Sequence[Sequence[Any]]]


def _ints_as_floats(values: Sequence[Any], shape: Shape | None) -> bool:
    """Whether a column of ``shape`` stores some int of ``values`` as a float64 (at any
    depth: list items, struct fields)."""
    if shape == "float":
        return int in set(map(type, values))
    if isinstance(shape, _List):
        items = [item for v in values if type(v) is list for item in v]
        return _ints_as_floats(items, shape.item)
    if isinstance(shape, _Struct):
        objects = [v for v in values if type(v) is dict]
        return any(_ints_as_floats([o[name] for o in objects], s) for name, s in shape.fields)
    return False


def _table(rows: list[dict[str, Any]], given: Columns | None = None) -> Any:
    import pyarrow as pa

    names, columns, missing = _columns(rows) if given is None else (*given, False)
    fits = [_fit(values) for values in columns]
    fitting = min((count for count, _, _ in fits), default=len(rows))
    if fitting < len(rows):
        rows = rows[:fitting]
        names, columns, missing = _columns(rows)
        fits = [_fit(values) for values in columns]
    arrays = [
        _column(values, shape, missing) for values, (_, shape, _) in zip(columns, fits, strict=True)
    ]
    int_floats = [
        name
        for name, values, (_, shape, ints) in zip(names, columns, fits, strict=True)
        if ints or (isinstance(shape, _List | _Struct) and _ints_as_floats(values, shape))
    ]
    schema = pa.schema(
        [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)],
        metadata={INT_FLOATS_KEY: json.dumps(int_floats)},
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def _int_floats(table: Any) -> set[str] | None:
    """The ``runapi.int_floats`` names of ``table`` (None: the key is missing)."""
    raw = (table.schema.metadata or {}).get(INT_FLOATS_KEY)
    return None if raw is None else set(json.loads(raw))


def exact_table(
    rows: list[dict[str, Any]], texts: Sequence[str], columns: Columns | None = None
) -> Any:
    """`rows_table(texts)`, built from ``rows`` (the same lines decoded by orjson) when
    that gives the same table: orjson reads an integer beyond 64 bits as a float, so a
    table holding a float of 2**63 or more (or not holding every row) is built again from
    the texts with the stdlib, which reads every number as written. ``columns``: the
    rows' names and values per name when every row has the same keys (spares a pass).

    ```python
    texts = ['{"_step": 0, "x": 18446744073709551616}']
    exact_table([orjson.loads(texts[0])], texts).num_rows  # -> 0 (2**64: no column holds it)
    ```
    """
    if len(rows) == len(texts) and rows:
        table = _table(rows, columns)
        if table.num_rows == len(rows) and not any(map(_large_floats, table.columns)):
            return table
    return rows_table(texts)


def _large_floats(column: Any) -> bool:
    """Whether a (chunked) array holds, at any depth, a finite float of 2**63 or more."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        if pa.types.is_floating(kind):
            big = pc.and_(pc.is_finite(chunk), pc.greater_equal(pc.abs(chunk), float(_INT_LIMIT)))
            if pc.any(big).as_py():
                return True
        elif pa.types.is_list(kind):
            if _large_floats(chunk.flatten()):
                return True
        elif pa.types.is_struct(kind):
            if any(_large_floats(chunk.field(i)) for i in range(kind.num_fields)):
                return True
    return False


def merge_tables(tables: Sequence[Any]) -> Any | None:
    """One table of ``tables`` in order (columns in order of first appearance, a column a
    table lacks null there), or None when some column's types differ in a way no one type
    holds exactly (only int64 next to float64 is widened, when every int is within 2**53).

    ```python
    merge_tables([rows_table(['{"x": 1}']), rows_table(['{"x": 0.5}'])])  # x: float64
    merge_tables([rows_table(['{"x": 1}']), rows_table(['{"x": "a"}'])])  # -> None
    ```
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = {pa.int64(), pa.float64()}
    types: dict[str, Any] = {}
    known = [_int_floats(table) for table in tables]
    int_floats = None if None in known else set().union(*filter(None, known))
    for table in tables:
        for column in table.schema:
            have = types.get(column.name)
            if have is None or pa.types.is_null(have):
                types[column.name] = column.type
            elif have != column.type and not pa.types.is_null(column.type):
                if {have, column.type} != numbers:
                    return None
                types[column.name] = pa.float64()
    merged = []
    for table in tables:
        arrays = []
        for name, kind in types.items():
            if name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, kind))
                continue
            array = table.column(name)
            if array.type == pa.int64() and kind == pa.float64():
                low, high = pc.min_max(array).values()
                bound = _FLOAT_EXACT
                if low.is_valid and not -bound <= low.as_py() <= high.as_py() <= bound:
                    return None
                if low.is_valid and int_floats is not None:
                    int_floats.add(name)  # its ints are floats from here on
            arrays.append(array if array.type == kind else array.cast(kind))
        merged.append(pa.Table.from_arrays(arrays, names=list(types)))
    joined = pa.concat_tables(merged)
    if int_floats is None:
        return joined
    return joined.replace_schema_metadata({INT_FLOATS_KEY: json.dumps(sorted(int_floats))})


def dictionary_columns(table: Any) -> list[str]:
    """The columns worth dictionary encoding in a part file: top-level strings. Numbers
    are written plain: a metric's values are nearly all distinct, so a dictionary only
    adds its indices (a quarter more bytes to send and a step more to decode)."""
    import pyarrow as pa

    return [field.name for field in table.schema if pa.types.is_string(field.type)]


def column_encodings(table: Any) -> dict[str, str]:
    """Parquet encodings of a part file's top-level number columns: floats split into
    byte streams (``BYTE_STREAM_SPLIT``: a metric's sign and exponent bytes, nearly the
    same from row to row, then compress), integers (steps) as deltas. On a 100,000-row
    part of 10 random metrics with zstd: 6.9 MB against 9.4 MB plain with snappy, decoded
    faster, written as fast; smooth real metrics shrink more. Every reader of parquet
    format 2.8 (pyarrow, polars, DuckDB) reads them."""
    import pyarrow as pa

    encodings = {}
    for field in table.schema:
        if pa.types.is_floating(field.type) and field.type != pa.float16():
            encodings[field.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_integer(field.type) and field.type.bit_width >= 32:
            encodings[field.name] = "DELTA_BINARY_PACKED"
    return encodings
