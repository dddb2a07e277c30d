"""The garbage collector of a server process, set for serving.

A request that lists 10,000 runs allocates some 100,000 short-lived containers; with
CPython's defaults each 700 allocations start a young collection, and every tenth of
those an older one, and now and then a full collection walks the whole heap (the schema,
the modules, every cached document). `settle_for_serving()` runs once a process has built
its app: one collection, then `gc.freeze()` moves every object alive then (what the
process holds for its whole life) out of the collector's walks, and a young generation
of `YOUNG_THRESHOLD` objects makes young collections rarer. Reference counting still
frees everything at once; only cycles wait for a collection.

Used by `runapi serve` (its one process, or each worker), not by apps built in-process
(tests, `runapi demo`), whose heap belongs to the caller.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) that start a collection of the youngest generation
(CPython's default: 700)."""


def settle_for_serving() -> None:
    """Collect once, freeze what is alive, and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
