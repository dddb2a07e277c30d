"""`history_frames`: one history DataFrame per `Run` of any list, through the bulk fetch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._bulk import DEFAULT_WORKERS, check_bulk_args, ref_frames
from ._history_requests import check_keys
from ._run_base import run_ref

if TYPE_CHECKING:
    import pandas

    from ._run import Run


def history_frames(
    runs: Iterable[Run],
    *,
    samples: int | None = 500,
    keys: list[str] | None = None,
    x_axis: str = "_step",
    max_workers: int = DEFAULT_WORKERS,
) -> list[pandas.DataFrame]:
    """One history DataFrame per run, in the order given, fetched `max_workers` at a time.

    `samples=None` reads each run's full history (`run.scan_history(keys).to_pandas()`,
    parquet exports where the server has them); otherwise each frame equals
    `run.history(samples, keys, x_axis)`, but the runs of a project are read up to
    `CHUNK_SIZE` per request. Requests share the runs' HTTP client, so 429 /
    `Retry-After` and retries are handled in one place (its `RetryTransport`); the first
    error raises (a run that does not exist: `RunNotFoundError`). For one long frame of
    many runs use `Runs.histories`.

    ```python
    frames = runapi.history_frames(api.runs("alice/mnist"), samples=500, keys=["loss"])
    ```
    """
    check_bulk_args(samples, max_workers, x_axis)
    checked = check_keys(keys)
    targets = [run_ref(run) for run in runs]
    return ref_frames(
        targets, samples=samples, keys=checked, x_axis=x_axis, max_workers=max_workers
    )
