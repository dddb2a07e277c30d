"""A tiny progress bar for long work (scans, exports, downloads, bulk fetches).

It draws on stderr only when stderr is a terminal, and stays silent when the caller
passes `progress=False`, or when the environment has `RUNAPI_PROGRESS=0`.

```python
with Progress(total=1000, unit="rows", label="history") as bar:
    for page in pages:
        bar.update(len(page))
```
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Literal, TextIO, TypeVar

Unit = Literal["rows", "bytes", "runs", "files", "steps"]
T = TypeVar("T")

ENV_VAR = "RUNAPI_PROGRESS"
_OFF_VALUES = frozenset({"0", "false", "no", "off"})
_BAR_WIDTH = 24
_REDRAW_S = 0.1


def progress_enabled(progress: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to draw: not turned off by argument or `RUNAPI_PROGRESS=0`, and a terminal.

    ```python
    >>> import io
    >>> progress_enabled(None, io.StringIO())  # not a terminal
    False
    ```
    """
    if progress is False:
        return False
    if os.environ.get(ENV_VAR, "").strip().lower() in _OFF_VALUES:
        return False
    out = sys.stderr if stream is None else stream
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def format_amount(value: float, unit: Unit) -> str:
    """`1536` bytes -> `1.5 KiB`; other units as plain counts.

    ```python
    >>> format_amount(1536, "bytes")
    '1.5 KiB'
    >>> format_amount(1200, "rows")
    '1,200 rows'
    ```
    """
    if unit != "bytes":
        return f"{int(value):,} {unit}"
    size = float(value)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or suffix == "GiB":
            return f"{int(size)} B" if suffix == "B" else f"{size:.1f} {suffix}"
        size /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """`75` -> `1:15`; `3725` -> `1:02:05`."""
    whole = max(0, int(seconds + 0.5))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """A one-line progress bar: done/total, a bar, rate and ETA (when `total` is known).

    `enabled=None` decides by `progress_enabled` (terminal and environment); a disabled
    bar accepts every call and writes nothing. The constructor writes nothing.

    ```python
    bar = Progress(total=None, unit="bytes", label="model.pt")
    bar.update(4096)
    bar.close()
    ```
    """

    def __init__(
        self,
        total: float | None = None,
        *,
        unit: Unit = "rows",
        label: str = "",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._enabled = progress_enabled(enabled, self._stream)
        self._total = total if total is None or total > 0 else None
        self._unit: Unit = unit
        self._label = label
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._done = 0.0
        self._width = 0
        self._closed = False

    @property
    def enabled(self) -> bool:
        """Whether this bar draws anything."""
        return self._enabled

    @property
    def done(self) -> float:
        """Amount done so far."""
        return self._done

    def set_total(self, total: float | None) -> None:
        """Set or change the total (e.g. once a first request told it)."""
        self._total = total if total is None or total > 0 else None

    def update(self, amount: float = 1) -> None:
        """Count `amount` more done; redraws at most every 0.1 s."""
        self._done += amount
        if not self._enabled or self._closed:
            return
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= _REDRAW_S:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar as it would be drawn now."""
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        parts = [self._label] if self._label else []
        if self._total is not None:
            fraction = min(self._done / self._total, 1.0)
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            parts.append(f"{fraction * 100:3.0f}% |{bar}|")
            total_text = format_amount(self._total, self._unit)
            if self._unit == "bytes":
                parts.append(f"{format_amount(self._done, self._unit)}/{total_text}")
            else:
                parts.append(f"{int(self._done):,}/{total_text}")
        else:
            parts.append(format_amount(self._done, self._unit))
        parts.append(f"{format_amount(rate, self._unit)}/s")
        if self._total is not None and rate > 0 and self._done < self._total:
            parts.append(f"ETA {format_duration((self._total - self._done) / rate)}")
        elif self._total is not None and self._done >= self._total:
            parts.append(f"in {format_duration(elapsed)}")
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write("\r" + text + pad)
        self._stream.flush()
        self._last_draw = now

    def echo(self, text: str, stream: TextIO) -> None:
        """Write the line ``text`` to ``stream`` without running it into the bar.

        A drawn bar is wiped from its line first and redrawn below the text, so on a
        terminal where both streams show, each printed line stands alone.
        """
        drawn = self._enabled and not self._closed and self._last_draw is not None
        if drawn:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
        stream.write(text + "\n")
        stream.flush()
        if drawn:
            self._width = 0
            self._draw(self._clock())

    def close(self) -> None:
        """Draw the final state and end the line (nothing when disabled)."""
        if self._closed:
            return
        self._closed = True
        if self._enabled:
            self._draw(self._clock())
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def track(
    items: Iterable[T],
    *,
    total: float | None = None,
    unit: Unit = "rows",
    label: str = "",
    progress: bool | None = None,
    size: Callable[[T], float] = lambda _item: 1,
) -> Iterator[T]:
    """Yield `items`, counting `size(item)` of each on a progress bar.

    ```python
    for page in track(scan.pages(), unit="rows", size=len, progress=None):
        ...
    ```
    """
    with Progress(total, unit=unit, label=label, enabled=progress) as bar:
        for item in items:
            bar.update(size(item))
            yield item
