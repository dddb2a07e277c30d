"""uvicorn's h11 protocol with a deadline for request headers (slowloris).

uvicorn closes an idle kept-alive connection after ``timeout_keep_alive`` but has no
limit on how long a client may take to send a request's headers: a client trickling a
byte at a time, or connecting and sending nothing, holds its connection forever. This
protocol closes a connection whose next request's headers are not complete within
``header_timeout_s`` of the connection opening or of the previous response ending.

It subclasses ``uvicorn.protocols.http.h11_impl.H11Protocol`` (uvicorn 0.29+), using
``connection_made``, ``data_received``, ``on_response_complete``, ``connection_lost`` and
its ``cycle`` (the request being served, replaced when new headers arrive).

```python
config = uvicorn.Config(app, http=header_timeout_protocol(30.0))
```
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`H11Protocol` that closes connections slow to send request headers."""

    header_timeout_s: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaited: object = None

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._awaited = self.cycle  # new headers replace it: then the deadline is met
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.cycle is self._awaited and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not self._awaited:
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        # Armed before the parent handles pipelined requests, which replace the cycle.
        if not self.transport.is_closing():
            self._arm_header_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """A :class:`HeaderTimeoutProtocol` class with a deadline of ``seconds``."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": seconds})
