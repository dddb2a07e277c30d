"""Parsing streamed history and events lines: validation, decoding, step and type counts.

Rows arrive through the file stream as JSON lines; a chunk is validated as a whole (every
line a JSON object, ``_step`` a 64-bit integer) with C-level passes where it can, and kept
as columns of what storing and exporting need (see :class:`HistoryChunk`).

```python
parse_history("wandb-history.jsonl", 0, ['{"_step": 0, "loss": NaN}']).steps  # -> [0]
```
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with the server extra; the stdlib still works
    orjson = None  # type: ignore[assignment]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class RowError(ValueError):
    """A streamed line that cannot be stored; the message says which and why."""


@dataclass(frozen=True)
class HistoryLine:
    line_no: int
    step: int
    keys: str  # JSON list of the row's sorted top-level keys
    text: str


@dataclass(frozen=True)
class HistoryChunk:
    """Contiguous parsed history lines, held as columns (no per-row objects).

    ``keys[i]`` is the JSON sorted key list of line ``offset + i``; ``type_counts`` says how
    many values of each (key, type) the chunk holds. ``rows`` are the decoded lines (orjson
    where it read them: an integer beyond 64 bits is a float there, see
    :func:`decode_lines`), kept so the parquet export of the chunk needs no second decode.
    """

    offset: int
    steps: list[int]
    keys: list[str]
    texts: list[str]
    type_counts: Counter[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    # (names, one tuple of values per name) when every row has the same keys
    columns: tuple[tuple[str, ...], list[tuple[Any, ...]]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def lines(self) -> list[HistoryLine]:
        """The lines as objects (for inspection; storing uses the columns)."""
        return [
            HistoryLine(self.offset + i, step, keys, text)
            for i, (step, keys, text) in enumerate(
                zip(self.steps, self.keys, self.texts, strict=True)
            )
        ]


@dataclass(frozen=True)
class EventLine:
    line_no: int
    text: str


# --------------------------------------------------------------------------- parsing


def parse_object(text: str, where: str) -> dict[str, Any]:
    """Decode one JSON line that must hold an object, else raise :class:`RowError`."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RowError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RowError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def value_type(value: Any) -> str:
    """The W&B-style type name of a history value (``number``, ``string``, ``histogram`` ...)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        kind = value.get("_type")
        return kind if isinstance(kind, str) and kind else "map"
    return "unknown"


def _row_step(row: dict[str, Any], line_no: int, where: str) -> int:
    if "_step" not in row:
        return line_no
    step = row["_step"]
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int):
        raise RowError(f"{where}: _step must be an integer, got {step!r}")
    if not INT64_MIN <= step <= INT64_MAX:
        raise RowError(f"{where}: _step {step} is outside the 64-bit integer range")
    return step


_TYPE_NAMES: dict[type, str] = {
    float: "number",
    int: "number",
    str: "string",
    bool: "boolean",
    type(None): "nil",
    list: "list",
}


def _decode_each(file_name: str, offset: int, content: Sequence[str]) -> list[Any]:
    """Decode line by line: orjson where it accepts the line, else the stdlib, which
    reads bare ``NaN`` / ``Infinity`` tokens and names what is wrong with a bad line."""
    rows: list[Any] = []
    for i, text in enumerate(content):
        try:
            rows.append(orjson.loads(text))
        except orjson.JSONDecodeError:
            rows.append(parse_object(text, f"{file_name} line {offset + i}"))
    return rows


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a chunk's rows are decoded.

    Each decoded row is a new dict, and every 700 of them trigger a collection (every
    tenth of those an older generation's, which walks every live object of the server):
    ~15% of a 20,000-row post, several times that while the exporter holds decoded rows.
    Paused, the chunk costs one young collection afterwards. Rows hold no reference
    cycles. Re-enabled on exit only if it was on: when another thread paused it
    first, that thread turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode_lines(file_name: str, offset: int, content: Sequence[str]) -> list[dict[str, Any]]:
    """Decode every line in one C-level pass; on failure, name the first bad line.

    orjson decodes (about 5x faster than the stdlib); a chunk it refuses (a line with a
    bare ``NaN`` / ``Infinity`` token, or a bad line) is decoded line by line with the
    stdlib as fallback. orjson reads integers beyond 64 bits as floats: those values
    still count as ``number``, their text is stored as sent, and a ``_step`` that large
    is refused either way (see :func:`_steps`).
    """
    rows: list[Any]
    if orjson is None:  # pragma: no cover - orjson is a dependency
        try:
            rows = list(map(json.loads, content))
        except (ValueError, RecursionError):
            for i, text in enumerate(content):
                parse_object(text, f"{file_name} line {offset + i}")
            raise
    else:
        try:
            with gc_paused():
                rows = list(map(orjson.loads, content))
        except orjson.JSONDecodeError:
            rows = _decode_each(file_name, offset, content)
    if rows and set(map(type, rows)) != {dict}:
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                where = f"{file_name} line {offset + i}"
                raise RowError(f"{where} must be a JSON object, got {type(row).__name__}")
    return rows


def _steps(
    file_name: str, offset: int, rows: list[dict[str, Any]], texts: Sequence[str] | None = None
) -> list[int]:
    steps = [row.get("_step") for row in rows]
    if not steps or set(map(type, steps)) == {int}:
        ints: list[int] = steps  # type: ignore[assignment]
        if not ints or (min(ints) >= INT64_MIN and max(ints) <= INT64_MAX):
            return ints
    result = []
    for i, row in enumerate(rows):
        where = f"{file_name} line {offset + i}"
        if texts is not None and type(row.get("_step")) is float:
            # orjson reads integers beyond 64 bits as floats: judge the value as sent.
            row = parse_object(texts[i], where)
        result.append(_row_step(row, offset + i, where))
    return result


def _count_types(
    rows: list[dict[str, Any]], shapes: list[tuple[str, ...]]
) -> Counter[tuple[str, str]]:
    """(key, type) counts of rows of several shapes: a Python loop once per distinct
    (shape, types) signature, except over rows holding nested objects."""
    types = list(map(tuple, map(map, repeat(type), map(dict.values, rows))))
    signatures = Counter(zip(shapes, types, strict=True))
    type_counts: Counter[tuple[str, str]] = Counter()
    nested = False
    for (shape, kinds), n in signatures.items():
        if dict in kinds:
            nested = True
            continue
        for key, kind in zip(shape, kinds, strict=True):
            type_counts[(key, _TYPE_NAMES.get(kind) or "unknown")] += n
    if nested:
        for row, kinds in zip(rows, types, strict=True):
            if dict in kinds:
                for key, value in row.items():
                    type_counts[(key, value_type(value))] += 1
    return type_counts


def _count_column_types(
    names: tuple[str, ...], columns: Sequence[Sequence[Any]]
) -> Counter[tuple[str, str]]:
    """(key, type) counts of rows of one shape, from its columns (one C pass each; a
    column of one scalar type, the usual case, is counted by its length)."""
    type_counts: Counter[tuple[str, str]] = Counter()
    for name, column in zip(names, columns, strict=True):
        kinds = set(map(type, column))
        if len(kinds) == 1 and dict not in kinds:
            (kind,) = kinds
            type_counts[(name, _TYPE_NAMES.get(kind) or "unknown")] += len(column)
            continue
        for kind, n in Counter(map(type, column)).items():
            if kind is dict:
                for value in column:
                    if type(value) is dict:
                        type_counts[(name, value_type(value))] += 1
            else:
                type_counts[(name, _TYPE_NAMES.get(kind) or "unknown")] += n
    return type_counts


def _one_shape_columns(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """The columns of ``rows`` (one tuple a key of the first row, in its order) when every
    row has exactly the first row's keys (in any order), else None. C-level passes, and
    no object per row (a tuple per row would make the garbage collector run)."""
    if not rows:
        return None
    width = len(rows[0])
    if set(map(len, rows)) != {width}:
        return None
    try:
        return [tuple(map(itemgetter(name), rows)) for name in rows[0]]
    except KeyError:  # a row of the same size with another key
        return None


def _column_steps(
    offset: int, count: int, names: tuple[str, ...], columns: list[tuple[Any, ...]]
) -> list[int] | None:
    """The steps of one-shape rows from their ``_step`` column when it holds only
    64-bit integers, or their line numbers when there is none; None otherwise (then
    :func:`_steps` judges each row)."""
    if "_step" not in names:
        return list(range(offset, offset + count))
    steps = columns[names.index("_step")]
    if set(map(type, steps)) == {int} and min(steps) >= INT64_MIN and max(steps) <= INT64_MAX:
        return list(steps)
    return None


def parse_history(file_name: str, offset: int, content: Sequence[str]) -> HistoryChunk:
    """Validate history lines starting at line ``offset``; rows must be JSON objects.

    Per-row work is C-level passes (decoding, shapes, columns and type counts). When every
    row has the same keys (the usual case) the chunk keeps its columns (in the first
    row's key order), which the parquet export reuses; steps and type counts then come
    from the columns too.

    ```python
    parse_history("wandb-history.jsonl", 3, ['{"_step": 7, "a": 1}']).steps  # -> [7]
    ```
    """
    with gc_paused():  # rows, shapes and columns: many objects, no cycles
        return _parse_history(file_name, offset, content)


def _parse_history(file_name: str, offset: int, content: Sequence[str]) -> HistoryChunk:
    rows = decode_lines(file_name, offset, content)
    one_shape = _one_shape_columns(rows)
    if one_shape is not None:
        names = tuple(rows[0])
        steps = _column_steps(offset, len(rows), names, one_shape)
        if steps is None:
            steps = _steps(file_name, offset, rows, content)
        columns: tuple[tuple[str, ...], list[tuple[Any, ...]]] | None = (names, one_shape)
        type_counts = _count_column_types(names, one_shape)
        keys = [json.dumps(sorted(names))] * len(rows)
    else:
        steps = _steps(file_name, offset, rows, content)
        columns = None
        shapes = list(map(tuple, rows))
        type_counts = _count_types(rows, shapes)
        keysets = {shape: json.dumps(sorted(shape)) for shape in dict.fromkeys(shapes)}
        keys = [keysets[shape] for shape in shapes]
    return HistoryChunk(
        offset=offset,
        steps=steps,
        keys=keys,
        texts=list(content),
        type_counts=type_counts,
        rows=rows,
        columns=columns,
    )


_INEXACT = float(2**63)  # orjson reads integer tokens beyond 64 bits as such floats


def _all_plain(rows: list[dict[str, Any]]) -> bool:
    """Whether orjson surely read every value of ``rows`` as the stdlib does: no list or
    object (which may hide a big integer) and no float of 2**63 or more. C-level passes
    over all values at once (a Python call per value was most of a sampled read's time)."""
    values = list(chain.from_iterable(map(dict.values, rows)))
    kinds = set(map(type, values))
    if dict in kinds or list in kinds:
        return False
    if float not in kinds:
        return True
    floats = values if len(kinds) == 1 else [v for v in values if type(v) is float]
    return not any(map(_INEXACT.__le__, map(abs, floats)))  # NaN compares False: plain


def picked_rows(texts: Sequence[str], keys: Sequence[str], *, every: bool) -> list[dict[str, Any]]:
    """Stored (validated) row texts decoded in one call and reduced to ``keys`` (rows
    lacking one left out when ``every``, rows holding none left out otherwise), exactly:
    orjson when it reads them all (no bare ``NaN`` / ``Infinity`` token) and every value
    kept is a plain scalar that orjson reads exactly (not a float of 2**63 or more, which
    may be an integer beyond 64 bits, nor a list or object, which may hide one), else the
    stdlib.

    ```python
    picked_rows(['{"a": NaN, "b": 1}', '{"a": 2}'], ["b"], every=False)  # -> [{'b': 1}]
    ```
    """
    joined = "[" + ",".join(texts) + "]"
    if orjson is not None:
        try:
            rows = orjson.loads(joined)
        except orjson.JSONDecodeError:  # a row with NaN: orjson for the others
            rows = [_loads_one(text) for text in texts]
        picked = _pick(rows, keys, every)
        if _all_plain(picked):
            return picked
    return _pick(json.loads(joined), keys, every)


def _loads_one(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


_MISSING: Any = object()


def top_level_names(key: str) -> list[str]:
    """The top-level keys of a row that may hold ``key``: itself, and for a dotted key
    each prefix before a dot (``"a.b.c"`` -> ``["a.b.c", "a", "a.b"]``)."""
    prefixes = [key[:i] for i, char in enumerate(key) if char == "."]
    return [key, *prefixes]


def lookup(row: dict[str, Any], key: str) -> Any:
    """``row[key]``, else for a dotted key the value its parts name through nested
    objects (``lookup({"grad": {"norm": 1}}, "grad.norm")`` -> ``1``); a top-level key
    literally named ``key`` wins. ``_MISSING`` when there is none."""
    if key in row:
        return row[key]
    start = key.find(".")
    while start != -1:
        inner = row.get(key[:start], _MISSING)
        if type(inner) is dict:
            found = lookup(inner, key[start + 1 :])
            if found is not _MISSING:
                return found
        start = key.find(".", start + 1)
    return _MISSING


def _pick(rows: list[dict[str, Any]], keys: Sequence[str], every: bool) -> list[dict[str, Any]]:
    if every:
        try:
            if len(keys) > 1:  # one C-level pass: a tuple of the keys' values per row
                return list(map(dict, map(zip, repeat(keys), map(itemgetter(*keys), rows))))
            return [{key: row[key] for key in keys} for row in rows]
        except KeyError:  # a key not at the top level of some row: look it up nested
            found = ({key: lookup(row, key) for key in keys} for row in rows)
            return [row for row in found if _MISSING not in row.values()]
    if not any("." in key for key in keys):
        picked = ({key: row[key] for key in keys if key in row} for row in rows)
        return [row for row in picked if row]
    result = []
    for row in rows:
        values = {key: lookup(row, key) for key in keys}
        kept = {key: value for key, value in values.items() if value is not _MISSING}
        if kept:
            result.append(kept)
    return result


def parse_events(file_name: str, offset: int, content: Sequence[str]) -> list[EventLine]:
    """Validate system-metrics lines starting at line ``offset`` (JSON objects)."""
    for i, text in enumerate(content):
        parse_object(text, f"{file_name} line {offset + i}")
    return [EventLine(offset + i, text) for i, text in enumerate(content)]
