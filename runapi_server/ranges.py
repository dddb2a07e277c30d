"""Responses with a stored object's bytes, with HTTP ``Range`` support (one byte range; 206,
or 416 when unsatisfiable).

```python
ranged_object_response(state.store, "files/artifacts/3-9f3c...", "bytes=0-99")  # 206
```
"""

from __future__ import annotations

import re

from starlette.responses import Response, StreamingResponse

from runapi_server.jsonresponse import error_response
from runapi_server.objects import BadKey, ObjectStore

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range, None when unsatisfiable.

    Raises ValueError when the header is not a single byte range.
    """
    match = RANGE_RE.match(header.strip())
    if match is None or match.groups() == ("", ""):
        raise ValueError(header)
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        return None
    return start, end


def _size(store: ObjectStore, key: str | None) -> int | None:
    if key is None:
        return None
    try:
        return store.size(key)
    except BadKey:
        return None


def object_response(
    store: ObjectStore, key: str | None, media_type: str, not_found: str
) -> Response:
    """The whole object ``key`` (404 with ``not_found`` when there is none)."""
    size = _size(store, key)
    chunks = None if key is None or size is None else store.open_range(key)
    if chunks is None:
        return error_response(not_found, 404)
    return StreamingResponse(chunks, media_type=media_type, headers={"content-length": str(size)})


def ranged_object_response(
    store: ObjectStore, key: str | None, range_header: str | None
) -> Response:
    """The object ``key``, or the one byte range ``range_header`` asks for (206; 416 when
    unsatisfiable, 400 when malformed); 404 when there is no such object."""
    size = _size(store, key)
    if key is None or size is None:
        return error_response("file not found", 404)
    headers = {"accept-ranges": "bytes"}
    media = "application/octet-stream"
    start, length, status = 0, size, 200
    if range_header:
        try:
            chosen = parse_range(range_header, size)
        except ValueError:
            return error_response(f"invalid Range header {range_header!r}", 400)
        if chosen is None:
            return Response(
                status_code=416, headers={**headers, "content-range": f"bytes */{size}"}
            )
        start, end = chosen
        length, status = end - start + 1, 206
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(length)
    chunks = store.open_range(key, start, length)
    if chunks is None:
        return error_response("file not found", 404)
    return StreamingResponse(chunks, status_code=status, media_type=media, headers=headers)
