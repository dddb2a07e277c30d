"""JSON responses that keep W&B's bare NaN / Infinity tokens (Starlette's refuses them)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


class WandbJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        try:
            return text.encode()
        except UnicodeEncodeError:
            # Lone surrogates (a client may send "\ud800"): escaped, so the body stays UTF-8.
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def error_response(message: str, status_code: int) -> WandbJSONResponse:
    return WandbJSONResponse({"errors": [{"message": message}]}, status_code=status_code)
