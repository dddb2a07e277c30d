"""JSON responses that keep W&B's bare NaN / Infinity tokens (Starlette's refuses them).

A response is encoded by orjson in one call when that gives exactly the bytes the
stdlib would write (compact separators, non-ASCII as UTF-8): orjson writes strings,
integers, booleans and null byte for byte like the stdlib, and floats too unless they
are non-finite (orjson writes ``null``, W&B bare ``NaN`` / ``Infinity`` tokens) or
small enough for an exponent (``1e-07`` against ``1e-7``). A level-by-level walk of the
answer (C-level passes, no Python call per value) finds such floats; answers holding
one go through the stdlib, with big lists of strings (a ``history`` page: thousands of
JSON row texts) still encoded by orjson. Values orjson refuses (integers beyond 64
bits, lone surrogates) take the stdlib path as well.
"""

from __future__ import annotations

import json
import math
from itertools import chain
from typing import Any

from starlette.responses import JSONResponse

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib still works
    orjson = None  # type: ignore[assignment]

_BIG_LIST = 64
"""Shorter string lists are not worth the check."""
_SMALLEST_PLAIN = 1e-4
"""Non-zero floats below this magnitude are written with an exponent, where orjson's
format (``1e-7``) differs from the stdlib's (``1e-07``)."""


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _encode(value: Any) -> bytes:
    """``value`` as compact JSON: dicts walked, big string lists by orjson, rest stdlib."""
    kind = type(value)
    if kind is dict and all(type(key) is str for key in value):
        parts = [_dumps(key) + b":" + _encode(item) for key, item in value.items()]
        return b"{" + b",".join(parts) + b"}"
    if kind is list and len(value) >= _BIG_LIST and set(map(type, value)) == {str}:
        return orjson.dumps(value)
    return _dumps(value)


def _plain_floats(floats: list[float]) -> bool:
    """Whether every float is zero or finite and at least 1e-4 in magnitude, by C-level
    passes (no Python call per value). A sum that overflows to infinity says no as well:
    the stdlib then writes those floats, correctly, only slower."""
    magnitudes = list(map(abs, floats))
    if not math.isfinite(sum(magnitudes)):  # NaN or infinity somewhere
        return False
    return not any(map(_SMALLEST_PLAIN.__gt__, filter(None, magnitudes)))  # zeros dropped


def orjson_identical(content: Any) -> bool:
    """Whether orjson writes ``content`` exactly as the stdlib does here: no float that is
    non-finite or below 1e-4 (see the module doc) anywhere in it. Walks one nesting level
    at a time with C-level passes.

    ```python
    >>> orjson_identical({"a": [1, "x", 2.5]}), orjson_identical({"a": [float("nan")]})
    (True, False)
    ```
    """
    level: list[Any] = [content]
    while level:
        kinds = set(map(type, level))
        if float in kinds:
            floats = level if len(kinds) == 1 else [v for v in level if type(v) is float]
            if not _plain_floats(floats):
                return False
        deeper: list[Any] = []
        if kinds == {dict}:  # a list of rows: one C-level pass
            deeper += chain.from_iterable(map(dict.values, level))
        elif dict in kinds:
            deeper += chain.from_iterable(v.values() for v in level if type(v) is dict)
        if list in kinds:
            deeper += chain.from_iterable(v for v in level if type(v) is list)
        if tuple in kinds:
            deeper += chain.from_iterable(v for v in level if type(v) is tuple)
        level = deeper
    return True


def encode_json(content: Any) -> bytes:
    """Compact UTF-8 JSON of ``content``, NaN / Infinity as bare tokens; the bytes are the
    stdlib's (``json.dumps(content, ensure_ascii=False, separators=(",", ":"))``).

    ```python
    encode_json({"data": {"history": ['{"a": NaN}'], "x": float("nan")}})
    # -> b'{"data":{"history":["{\\"a\\": NaN}"],"x":NaN}}'
    ```
    """
    try:
        if orjson is not None:
            if orjson_identical(content):
                try:
                    return orjson.dumps(content)
                except TypeError:  # beyond 64-bit integers, lone surrogates: stdlib
                    pass
            return _encode(content)
        return _dumps(content)
    except (UnicodeEncodeError, TypeError):
        # Lone surrogates (a client may send "\ud800"): escaped, so the body stays UTF-8.
        # (orjson refuses them with a TypeError subclass.)
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


class WandbJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return encode_json(content)


def error_response(message: str, status_code: int) -> WandbJSONResponse:
    """A ``{"errors": [{"message": ...}]}`` response."""
    return WandbJSONResponse({"errors": [{"message": message}]}, status_code=status_code)
