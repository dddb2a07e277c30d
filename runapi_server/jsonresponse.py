"""JSON responses that keep W&B's bare NaN / Infinity tokens (Starlette's refuses them).

Lists made only of strings (a ``history`` page: thousands of JSON row texts) are encoded
with orjson, several times faster than the stdlib; everything else goes through the
stdlib ``json`` module, which writes non-finite floats as bare ``NaN`` / ``Infinity``
tokens (orjson would write ``null``). Both write non-ASCII text as UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib still works
    orjson = None  # type: ignore[assignment]

_BIG_LIST = 64
"""Shorter string lists are not worth the check."""


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


def encode_json(content: Any) -> bytes:
    """Compact UTF-8 JSON of ``content``, NaN / Infinity as bare tokens.

    ```python
    encode_json({"data": {"history": ['{"a": NaN}'], "x": float("nan")}})
    # -> b'{"data":{"history":["{\\"a\\": NaN}"],"x":NaN}}'
    ```
    """
    try:
        if orjson is not None:
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
