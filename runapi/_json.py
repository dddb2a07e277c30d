"""Decoding W&B JSON payloads: JSONString fields and history rows (NaN/Infinity kept)."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import TYPE_CHECKING, Any

from ._exceptions import ResponseValidationError
from ._extras import require

if TYPE_CHECKING:
    import pandas
    import pyarrow


_FLOAT_LIMIT = float(1 << 63)
"""Floats at least this large may be integers orjson read inexactly (beyond 64 bits)."""


def _maybe_inexact(value: Any) -> bool:
    """Whether an orjson result holds a float of magnitude 2**63 or more anywhere: orjson
    turns integer tokens beyond 64 bits into such floats (every other integer it reads
    exactly), so without one the result is what the stdlib gives. A float that was
    written as such only costs a stdlib decode. Walks one nesting level at a time, each
    with C-level passes (no Python call per value): on a GraphQL answer, mostly strings
    (rows, configs), cheaper than scanning its text (`_long_integer_tokens`).

    ```python
    >>> _maybe_inexact([{"a": [1.0, {"b": 1e19}]}]), _maybe_inexact({"a": [1, "x", 2.5]})
    (True, False)
    ```
    """
    level: list[Any] = [value]
    while level:
        kinds = set(map(type, level))
        if float in kinds:
            floats = [v for v in level if type(v) is float] if len(kinds) > 1 else level
            if any(map(_FLOAT_LIMIT.__le__, map(abs, floats))):
                return True
        deeper: list[Any] = []
        if kinds == {dict}:  # a list of rows: one C-level pass
            deeper += chain.from_iterable(map(dict.values, level))
        elif dict in kinds:
            deeper += chain.from_iterable(v.values() for v in level if type(v) is dict)
        if list in kinds:
            deeper += chain.from_iterable(v for v in level if type(v) is list)
        level = deeper
    return False


_DIGITS = bytes.maketrans(b"0123456789D", b"DDDDDDDDDDd")
_RUN = b"D" * 19


def _long_integer_tokens(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer token of 19 or more digits (one orjson may read
    inexactly): a run of 19 digits not after a decimal point (a fraction's digits are
    harmless). C-level passes (translate, find), a Python step per long fraction only;
    cheaper than `_maybe_inexact` on number-dense texts such as history rows.

    ```python
    >>> _long_integer_tokens(b"[0.0011428193144282783, 1]")
    False
    >>> _long_integer_tokens(b"[-9223372036854775809]")
    True
    ```
    """
    masked = raw.translate(_DIGITS)
    at = masked.find(_RUN)  # the start of a run of digits (searches resume past runs)
    while at >= 0:
        if at == 0 or masked[at - 1] != 46:  # not after b".": maybe an integer token
            return True
        at = masked.find(_RUN, at + len(_RUN))  # a run of 38+ digits: judged an integer
    return False


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
    `Infinity` tokens, lone surrogates, invalid JSON) or may have read inexactly (a
    result holding a float of 2**63 or more: an integer beyond 64 bits, which orjson
    turns into a float) go to the stdlib, so values and error messages are the stdlib's.

    ```python
    >>> fast_loads(b'{"a": NaN, "b": [1, 2.5]}')
    {'a': nan, 'b': [1, 2.5]}
    ```
    """
    orjson = _orjson_module()
    if orjson:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if not _maybe_inexact(value):
                return value
    return json.loads(data)


def _loads_lines(texts: Sequence[str]) -> list[Any] | None:
    """JSON texts decoded with orjson, one call for all of them, else one call each with
    the stdlib for the few orjson refuses (a bare `NaN` / `Infinity` token, as in a row
    logging a NaN), so one such row does not send the whole page to the stdlib. None
    when orjson is missing or may read a text inexactly (an integer token of 19 digits or
    more): the caller then decodes with `fast_loads`. Invalid JSON raises `ValueError`.
    """
    orjson = _orjson_module()
    if not orjson:
        return None
    raw = ("[" + ",".join(texts) + "]").encode("utf-8", "surrogatepass")
    if _long_integer_tokens(raw):
        return None
    try:
        values: list[Any] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        values = _loads_each(orjson, texts)
    return values


def _loads_each(orjson: Any, texts: Sequence[str]) -> list[Any]:
    """The texts decoded where orjson refused them together: those that may hold a bare
    `NaN` / `Infinity` token with the stdlib, the others in one orjson call (else one
    call each, so an invalid text raises the stdlib's `ValueError`)."""
    plain = [i for i, text in enumerate(texts) if "NaN" not in text and "Infinity" not in text]
    try:
        found = orjson.loads("[" + ",".join([texts[i] for i in plain]) + "]")
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, list) or len(found) != len(plain):
        values: list[Any] = []
        for text in texts:
            try:
                values.append(orjson.loads(text))
            except orjson.JSONDecodeError:
                values.append(json.loads(text))
        return values
    decoded = dict(zip(plain, found, strict=True))
    return [decoded[i] if i in decoded else json.loads(text) for i, text in enumerate(texts)]


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


def loads_objects(texts: Sequence[str | None], what: str) -> list[dict[str, Any]]:
    """`loads_object` of each text, the texts decoded together in one call where possible
    (`_loads_lines`); the same values and errors as one `loads_object` call each.

    ```python
    >>> loads_objects(['{"a": 1}', None, '{"b": NaN}'], "run summary")
    [{'a': 1}, {}, {'b': nan}]
    ```
    """
    present = [text for text in texts if text]
    try:
        decoded = _loads_lines(present) if present else []
    except (ValueError, RecursionError):
        decoded = None  # an invalid text: decoded one by one below, naming the error
    if (
        decoded is None
        or len(decoded) != len(present)
        or not all(value is None or type(value) is dict for value in decoded)
    ):
        return [loads_object(text, what) for text in texts]
    values = iter(decoded)
    return [(next(values) or {}) if text else {} for text in texts]


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
        decoded = _loads_lines(rows)
        if decoded is None:
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


def flatten_into(record: dict[str, Any], name: str, value: Any) -> None:
    """`record[name] = value`, a non-empty dict spread over dotted names (`config.opt.lr`).

    The one flattening of nested values (runs tables, run records); decoded JSON holds
    plain dicts, so `type() is dict` is the test (fast on 10,000-run tables).
    """
    if type(value) is dict and value:
        for key, item in value.items():
            flatten_into(record, f"{name}.{key}", item)
    else:
        record[name] = value


def flatten(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Flatten nested dicts into dotted keys under `prefix` (`config.opt.lr`)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        flatten_into(out, f"{prefix}.{key}", dict(item) if isinstance(item, Mapping) else item)
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a big frame.

    Decoding a million rows allocates millions of container objects, each batch of
    which triggers a collection that walks every live column list: a third of the
    build time. Nothing built here holds reference cycles, nor do the responses read
    meanwhile (`_http.Client`); the collector is re-enabled (if it was) on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_INT64_MAX = (1 << 63) - 1


def _typed_chunk(values: Sequence[Any]) -> tuple[Any, bool]:
    """`values` as a float64 / int64 numpy array when they are all `float` / all `int`
    (the dtypes pandas would infer), else as a list; and whether they hold no float of
    2**63 or more (the floats orjson makes of integer tokens beyond 64 bits)."""
    import numpy

    kinds = set(map(type, values))
    if kinds == {float}:
        array = numpy.fromiter(values, numpy.float64, len(values))
        return array, not bool((numpy.abs(array) >= _FLOAT_LIMIT).any())
    if kinds == {int}:
        if min(values) >= -_INT64_MAX - 1 and max(values) <= _INT64_MAX:
            return numpy.fromiter(values, numpy.int64, len(values)), True
        return list(values), True
    exact = kinds <= {str, bool, int, type(None)}
    if not exact and kinds <= {str, bool, int, float, type(None)}:  # floats among others
        floats = [value for value in values if type(value) is float]
        exact = not any(map(_FLOAT_LIMIT.__le__, map(abs, floats)))
    return list(values), exact


def arrow_column(pa: Any, values: list[Any]) -> Any:
    """A pyarrow array of `values`; a column of mixed types becomes JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else dumps(v) for v in values], type=pa.string())


def _listed(chunks: list[Any]) -> list[Any]:
    """A column's chunks (numpy arrays or lists) as one list of Python values."""
    values: list[Any] = []
    for chunk in chunks:
        values.extend(chunk.tolist() if hasattr(chunk, "tolist") else chunk)
    return values


def _joined(chunks: list[Any]) -> Any:
    """A column's chunks as one numpy array when all are arrays of one dtype (the dtype
    pandas would infer), else as one list."""
    dtypes = {getattr(chunk, "dtype", None) for chunk in chunks}
    if len(dtypes) == 1 and None not in dtypes:
        import numpy

        return chunks[0] if len(chunks) == 1 else numpy.concatenate(chunks)
    return _listed(chunks)


class ColumnBuilder:
    """Builds a table column by column from pages of row dicts (or row texts): the one
    frame builder for history pages, runs tables and the CLI's CSV and JSON lines.

    A page whose rows all have the same keys in the same order (the usual case) is
    transposed in one C-level pass; other pages fill each column with one list
    comprehension. A row lacking a key gets None there. Columns keep the order in which
    keys first appear. A page column of only floats (or only 64-bit ints) is kept as one
    numpy array; the frame gets the dtype pandas would infer from the values.

    ```python
    columns = ColumnBuilder()
    columns.add([{"_step": 0, "loss": 1.0}, {"_step": 1, "loss": 0.5}])
    columns.add_texts(['{"_step": 2, "loss": NaN}'])
    columns.to_pandas().shape  # -> (3, 2)
    ```
    """

    def __init__(self) -> None:
        self._columns: dict[str, list[Any]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _page(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
        shapes = dict.fromkeys(map(tuple, rows))
        if len(shapes) == 1:
            (names,) = shapes
            return dict(zip(names, zip(*map(dict.values, rows), strict=True), strict=True))
        names = tuple(dict.fromkeys(key for shape in shapes for key in shape))
        return {name: [row.get(name) for row in rows] for name in names}

    def _append(self, page: dict[str, tuple[Any, bool]], rows: int) -> None:
        for name, (chunk, _) in page.items():
            chunks = self._columns.get(name)
            if chunks is None:
                chunks = self._columns[name] = [[None] * self._count] if self._count else []
            chunks.append(chunk)
        self._count += rows
        if len(self._columns) > len(page):
            for name, chunks in self._columns.items():
                if name not in page:
                    chunks.append([None] * rows)

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Append a page of rows."""
        if rows:
            page = {k: _typed_chunk(v) for k, v in self._page(rows).items()}
            self._append(page, len(rows))

    def add_texts(self, texts: Sequence[str], what: str = "history") -> None:
        """Append a page of JSON row texts, decoded exactly like `decode_rows` (which
        raises for invalid rows) but faster: one orjson call over the page, with the
        integer-overflow check done on the decoded columns instead of on the text."""
        if not texts:
            return
        orjson = _orjson_module()
        decoded: Any = None
        if orjson:
            try:
                decoded = orjson.loads("[" + ",".join(texts) + "]")
            except orjson.JSONDecodeError:  # a row with NaN: orjson for the others
                try:
                    decoded = _loads_each(orjson, texts)
                except (ValueError, RecursionError):
                    decoded = None
        if (
            isinstance(decoded, list)
            and len(decoded) == len(texts)
            and set(map(type, decoded)) == {dict}
        ):
            page = {k: _typed_chunk(v) for k, v in self._page(decoded).items()}
            if all(exact for _, exact in page.values()):
                self._append(page, len(texts))
                return
        self.add(decode_rows(texts, what))

    @property
    def row_count(self) -> int:
        """Rows added so far."""
        return self._count

    def arrays(self) -> dict[str, Any]:
        """The columns built so far as `to_pandas` hands them to pandas: a numpy array where
        every chunk is one of a single dtype, else a list of Python values."""
        return {name: _joined(chunks) for name, chunks in self._columns.items()}

    def columns(self) -> dict[str, list[Any]]:
        """The columns built so far, each a list of Python values (None where missing)."""
        return {name: _listed(chunks) for name, chunks in self._columns.items()}

    def to_arrow(self) -> pyarrow.Table:
        """The rows so far as a pyarrow Table: a column of one numpy dtype as it is, any
        other through `arrow_column` (mixed types become JSON text). Needs pyarrow."""
        pa = require("pyarrow", "arrow")
        arrays: dict[str, Any] = {}
        for name, chunks in self._columns.items():
            column = _joined(chunks)
            arrays[name] = arrow_column(pa, column) if type(column) is list else pa.array(column)
        table: pyarrow.Table = pa.table(arrays) if arrays else pa.table({})
        return table

    def to_pandas(self) -> pandas.DataFrame:
        """The rows so far as a DataFrame (pandas infers each column's dtype)."""
        import pandas

        if not self._count:
            return pandas.DataFrame()
        return pandas.DataFrame(self.arrays())
