"""The state of one download fetched as byte ranges, shared by the threads that fetch the
ranges and the one that hashes the file behind them (`_rest.download` uses it).

MD5 cannot be split across ranges, but it need not wait for all of them either:
`RangePlan.hash_in_order` reads the file back in order, each range as far as it has been
written so far, so hashing runs while later ranges still arrive and the whole takes about
the longer of the transfer and the hashing, not their sum. While it has to wait for bytes
(the transfer is the slower side) it asks for one more stream of ranges at a time.

```python
plan = RangePlan(range_bounds(total, 32 << 20), more_streams=start_stream)
presize(fileno, total)
# fetching threads: plan.take() -> index; plan.advance(index, offset); plan.finish(index)
plan.hash_in_order(fileno, hashlib.md5())
```
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections.abc import Callable
from typing import Any

HASH_READ_BYTES = 8 << 20
"""Bytes read back from the file per MD5 update (at most; less when less is written)."""
WAIT_FOR_STREAM_S = 0.05
"""Time the hashing waits for bytes, in all, before it asks for one more stream."""


def range_bounds(total: int, step: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges of `step` bytes (the last may be shorter) covering `total`
    bytes, in order."""
    return [(start, min(start + step, total) - 1) for start in range(0, total, step)]


class RangePlan:
    """Which ranges are taken, how far each has been written, whether the download stopped.

    Ranges are taken in order (`take`), so the written prefix of the file grows about as
    fast as all streams together deliver. `stop()` (a range failed) makes `take` hand out
    no more ranges, tells fetching threads to give up (`stopped`) and ends the hashing.
    `more_streams()` is called, from the hashing thread, when it wants one more stream.
    """

    def __init__(
        self, bounds: list[tuple[int, int]], more_streams: Callable[[], None] = lambda: None
    ) -> None:
        self.bounds = bounds
        self._more_streams = more_streams
        self._next = 0
        self._reached = [start for start, _ in bounds]
        self._finished = [False] * len(bounds)
        self._stopped = False
        self._changed = threading.Condition()

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def untaken(self) -> int:
        """Ranges no stream has taken yet."""
        with self._changed:
            return 0 if self._stopped else len(self.bounds) - self._next

    def take(self) -> int | None:
        """The next range to fetch; None when all are taken or the download stopped."""
        with self._changed:
            if self._stopped or self._next >= len(self.bounds):
                return None
            self._next += 1
            return self._next - 1

    def advance(self, index: int, reached: int) -> None:
        """Range `index` holds its bytes up to offset `reached` (exclusive)."""
        with self._changed:
            self._reached[index] = reached
            self._changed.notify_all()

    def finish(self, index: int) -> None:
        """Range `index` ended (whole, short or failed): it will write no more."""
        with self._changed:
            self._finished[index] = True
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _wait_past(self, index: int, offset: int, timeout: float | None) -> tuple[int, bool]:
        """Wait (at most `timeout` seconds) until range `index` reached past `offset`:
        how far it reached, and whether it ended there (or the download stopped)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._reached[index] > offset or self._finished[index] or self._stopped,
                timeout,
            )
            reached = self._reached[index]
            if self._stopped:
                return offset, True
            return reached, reached <= offset and self._finished[index]

    def hash_in_order(self, fileno: int, hasher: Any) -> None:
        """Feed `hasher` the bytes every range wrote, in order, read from `fileno` as they
        are written; returns when every range has ended, or at once when the download
        stopped (the failed range's error is its stream's to raise).

        The file must already be as long as all ranges (`presize`): it is read through a
        memory map (no copy), or with `preadv` where it cannot be mapped."""
        size = self.bounds[-1][1] + 1 if self.bounds else 0
        try:
            mapped = mmap.mmap(fileno, size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            buffer = memoryview(bytearray(HASH_READ_BYTES))

            def read(offset: int, count: int) -> memoryview:
                got = os.preadv(fileno, [buffer[:count]], offset)
                if got <= 0:
                    raise OSError(f"the download file ends at {offset} bytes") from None
                return buffer[:got]

            self._hash_from(read, hasher)
            return
        with mapped, memoryview(mapped) as view:
            self._hash_from(lambda offset, count: view[offset : offset + count], hasher)

    def _hash_from(self, read: Callable[[int, int], memoryview], hasher: Any) -> None:
        """`hash_in_order` with `read(offset, count)`: up to `count` bytes at `offset`.
        Each `WAIT_FOR_STREAM_S` spent waiting for bytes (past the first ones: their
        latency says nothing about the rate) asks for one more stream."""
        budget = WAIT_FOR_STREAM_S
        for index, (offset, _end) in enumerate(self.bounds):
            while True:
                first_bytes = index == 0 and offset == 0
                began = time.monotonic()
                timeout = None if first_bytes else max(budget, 0.001)
                reached, ended = self._wait_past(index, offset, timeout)
                if not first_bytes:
                    budget -= time.monotonic() - began
                    if budget <= 0:
                        budget = WAIT_FOR_STREAM_S
                        self._more_streams()
                if ended:
                    break
                while offset < reached:
                    chunk = read(offset, min(HASH_READ_BYTES, reached - offset))
                    hasher.update(chunk)
                    offset += len(chunk)
            if self._stopped:
                return


def presize(fileno: int, size: int) -> None:
    """Make the (empty) file `fileno` `size` bytes long before ranges are written into it:
    its space allocated at once where the system can (writes then cost less, and a full
    disk fails here), else as a sparse file."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fileno, 0, size)
    else:
        os.ftruncate(fileno, size)
