"""Index sampling of history and events rows: which ordinal positions of a window to keep.

Pure arithmetic, shared by the storage layer (:mod:`runapi_server.storage.history`, which
fetches only the rows at these positions) and its callers.

```python
sample_positions(10, 4)  # -> [0, 3, 6, 9]
step_bounds(0, 10)  # -> (0, 9): inclusive bounds of steps [0, 10)
```
"""

from __future__ import annotations

from runapi_server.history_parse import INT64_MAX, INT64_MIN


def sample_positions(count: int, samples: int | None) -> list[int]:
    """Evenly spaced ordinal positions in ``range(count)``, first and last kept.

    ```python
    sample_positions(10, 4)  # -> [0, 3, 6, 9]
    sample_positions(3, None)  # -> [0, 1, 2]
    ```
    """
    if samples is None or samples >= count:
        return list(range(count))
    if samples <= 0:
        return []
    if samples == 1:
        return [0]
    span, gaps = count - 1, samples - 1
    return [(2 * i * span + gaps) // (2 * gaps) for i in range(samples)]


def _clamp(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


def step_bounds(min_step: int | None, max_step: int | None) -> tuple[int, int] | None:
    """Inclusive step bounds of ``[min_step, max_step)``, or None for an empty window."""
    lo = INT64_MIN if min_step is None else _clamp(min_step)
    if max_step is None:
        hi = INT64_MAX
    elif max_step <= INT64_MIN:
        return None
    else:
        hi = _clamp(max_step - 1)
    return (lo, hi) if lo <= hi else None
