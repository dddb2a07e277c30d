"""Decoding W&B JSON payloads: JSONString fields and history rows (NaN/Infinity kept)."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._exceptions import ResponseValidationError

if TYPE_CHECKING:
    import pandas


def _digit_map() -> bytes:
    table = bytearray(b" " * 256)
    table[ord("0") : ord("9") + 1] = b"0" * 10
    table[ord(".")] = ord(".")
    return bytes(table)


_DIGIT_MAP = _digit_map()
_LONG_RUN = b"0" * 19


def _long_integer(raw: bytes) -> bool:
    """Whether `raw` may hold an integer token of 19+ digits (orjson reads those beyond
    64 bits as floats). Digits after a `.` (fractions) do not count; digits in strings
    may give a false alarm, which only costs speed."""
    mapped = raw.translate(_DIGIT_MAP)
    return b" " + _LONG_RUN in mapped or mapped.startswith(_LONG_RUN)


_orjson: Any = None


def _orjson_module() -> Any:
    """orjson when installed (the `fast` extra), else False."""
    global _orjson
    if _orjson is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - the stdlib still decodes everything
            _orjson = False
        else:
            _orjson = orjson
    return _orjson


def fast_loads(data: bytes | str) -> Any:
    """`json.loads`, several times faster on big payloads, with identical results.

    orjson decodes when it can read the text exactly; texts it refuses (bare `NaN` /
    `Infinity` tokens, lone surrogates, invalid JSON) or may read inexactly (integers
    of 19 or more digits, which it would turn into floats) go to the stdlib, so values
    and error messages are the stdlib's.

    ```python
    >>> fast_loads(b'{"a": NaN, "b": [1, 2.5]}')
    {'a': nan, 'b': [1, 2.5]}
    ```
    """
    orjson = _orjson_module()
    if orjson:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if not _long_integer(raw):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
    return json.loads(data)


def loads_object(text: str | None, what: str) -> dict[str, Any]:
    """Decode a JSONString holding an object; None or empty gives `{}`."""
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ResponseValidationError(f"{what} is not valid JSON: {exc}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResponseValidationError(f"{what} is not a JSON object")
    return value


def decode_rows(rows: Sequence[str], what: str = "history") -> list[dict[str, Any]]:
    """Decode a page of JSON row strings with one `json.loads` call.

    ```python
    >>> decode_rows(['{"_step": 0, "loss": NaN}', '{"_step": 1}'])[1]
    {'_step': 1}
    ```
    """
    if not rows:
        return []
    try:
        decoded = fast_loads("[" + ",".join(rows) + "]")
    except ValueError as exc:
        raise ResponseValidationError(f"{what} rows are not valid JSON: {exc}") from exc
    if not isinstance(decoded, list) or len(decoded) != len(rows):
        raise ResponseValidationError(f"{what} rows do not each hold one JSON value")
    for row in decoded:
        if not isinstance(row, dict):
            raise ResponseValidationError(f"{what} row is not a JSON object: {row!r}")
    return decoded


def row_objects(value: Any, what: str = "sampledHistory") -> list[dict[str, Any]]:
    """Check an inline JSON list of row objects (`sampledHistory`)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ResponseValidationError(f"{what} is not a list of row objects")
    return value


def dumps(value: Any) -> str:
    """Encode for a JSONString argument (NaN/Infinity as bare tokens, like W&B)."""
    return json.dumps(value)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) for digests and equality."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def same_value(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN (so an untouched NaN is not a change)."""
    if a is b:
        return True
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        if a == b:
            return True
    except (TypeError, ValueError):
        pass
    try:
        return canonical(a) == canonical(b)
    except (TypeError, ValueError):
        return False


def flatten(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Flatten nested dicts into dotted keys under `prefix` (`config.opt.lr`)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, name))
        else:
            out[name] = item
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a big frame.

    Decoding a million rows allocates millions of container objects, each batch of
    which triggers a collection that walks every live column list: a third of the
    build time. Nothing built here holds reference cycles; the collector is re-enabled
    (if it was) on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ColumnBuilder:
    """Builds a DataFrame column by column from pages of row dicts.

    A page whose rows all have the same keys in the same order (the usual case) is
    transposed in one C-level pass; other pages fill each column with one list
    comprehension. A row lacking a key gets None there. Columns keep the order in which
    keys first appear.

    ```python
    columns = ColumnBuilder()
    columns.add([{"_step": 0, "loss": 1.0}, {"_step": 1, "loss": 0.5}])
    columns.to_pandas().shape  # -> (2, 2)
    ```
    """

    def __init__(self) -> None:
        self._columns: dict[str, list[Any]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _column(self, name: str) -> list[Any]:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = [None] * self._count
        return column

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Append a page of rows."""
        if not rows:
            return
        shapes = dict.fromkeys(map(tuple, rows))
        if len(shapes) == 1:
            (names,) = shapes
            for name, values in zip(names, zip(*map(dict.values, rows), strict=True), strict=True):
                self._column(name).extend(values)
        else:
            names = tuple(dict.fromkeys(key for shape in shapes for key in shape))
            for name in names:
                self._column(name).extend([row.get(name) for row in rows])
        self._count += len(rows)
        if len(self._columns) > len(names):
            for column in self._columns.values():
                if len(column) < self._count:
                    column.extend([None] * (self._count - len(column)))

    def to_pandas(self) -> pandas.DataFrame:
        """The rows so far as a DataFrame (pandas infers each column's dtype)."""
        import pandas

        return pandas.DataFrame(self._columns) if self._count else pandas.DataFrame()
