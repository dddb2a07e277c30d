"""Histories of many runs at once: a bounded concurrent fetch (`history_frames`)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

    from ._run import Run

DEFAULT_WORKERS = 8


def history_frames(
    runs: Iterable[Run],
    *,
    samples: int | None = 500,
    keys: list[str] | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> list[pandas.DataFrame]:
    """One history DataFrame per run, in the order given, fetched `max_workers` at a time.

    `samples=None` reads each run's full history (`run.scan_history(keys).to_pandas()`);
    otherwise `run.history(samples, keys)`. Requests share the runs' HTTP client, so
    429 / `Retry-After` and retries are handled in one place (its `RetryTransport`); the
    first error raises.

    ```python
    frames = runapi.history_frames(api.runs("alice/mnist"), samples=500, keys=["loss"])
    ```
    """
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be an int >= 1, not {max_workers!r}")
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, int) or samples < 1
    ):
        raise ValueError(f"samples must be None or an int >= 1, not {samples!r}")
    targets = list(runs)

    def one(run: Run) -> pandas.DataFrame:
        if samples is None:
            return run.scan_history(keys=keys).to_pandas()
        return run.history(samples=samples, keys=keys)

    if not targets:
        return []
    with ThreadPoolExecutor(min(max_workers, len(targets))) as pool:
        return list(pool.map(one, targets))
