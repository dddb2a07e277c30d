"""File responses with HTTP ``Range`` support (one byte range; 206, or 416 when unsatisfiable).

```python
ranged_file_response(path, "bytes=0-99")  # 206 with the first 100 bytes
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

from runapi_server.jsonresponse import error_response

CHUNK = 1024 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _iter_range(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


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


def ranged_file_response(path: Path, range_header: str | None) -> Response:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return error_response("file not found", 404)
    size = os.fstat(handle.fileno()).st_size
    headers = {"accept-ranges": "bytes"}
    media = "application/octet-stream"
    if range_header:
        try:
            chosen = parse_range(range_header, size)
        except ValueError:
            handle.close()
            return error_response(f"invalid Range header {range_header!r}", 400)
        if chosen is None:
            handle.close()
            return Response(
                status_code=416, headers={**headers, "content-range": f"bytes */{size}"}
            )
        start, end = chosen
        length = end - start + 1
        headers.update(
            {"content-range": f"bytes {start}-{end}/{size}", "content-length": str(length)}
        )
        return StreamingResponse(
            _iter_range(handle, start, length), status_code=206, media_type=media, headers=headers
        )
    headers["content-length"] = str(size)
    return StreamingResponse(_iter_range(handle, 0, size), media_type=media, headers=headers)
