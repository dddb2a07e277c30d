"""History rows for the API: parsing (:mod:`runapi_server.history_parse`), index sampling
(:mod:`runapi_server.history_sampling`) and picking keys, over the rows and counters that
:mod:`runapi_server.storage.history` keeps.

Keys are picked by name; a dotted key that no row holds at the top level
(``"grad.norm"``) is looked up in nested objects (``{"grad": {"norm": 0.5}}``), as W&B's
summary names nested values; a top-level key literally named ``"grad.norm"`` wins.

```python
with db.transaction() as conn:
    chunk = parse_history("wandb-history.jsonl", 0, ['{"_step": 0, "loss": NaN}'])
    store_history(conn, run_id, chunk)  # runapi_server.storage.history
sampled_history(db.read(), run_id, ["loss"], samples=500)  # -> [{"loss": nan}]
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runapi_server.history_parse import INT64_MAX as INT64_MAX
from runapi_server.history_parse import INT64_MIN as INT64_MIN
from runapi_server.history_parse import EventLine as EventLine
from runapi_server.history_parse import HistoryChunk as HistoryChunk
from runapi_server.history_parse import HistoryLine as HistoryLine
from runapi_server.history_parse import RowError as RowError
from runapi_server.history_parse import decode_lines as decode_lines
from runapi_server.history_parse import gc_paused as gc_paused
from runapi_server.history_parse import parse_events as parse_events
from runapi_server.history_parse import parse_history as parse_history
from runapi_server.history_parse import parse_object as parse_object
from runapi_server.history_parse import picked_rows as picked_rows
from runapi_server.history_parse import top_level_names as top_level_names
from runapi_server.history_parse import value_type as value_type
from runapi_server.history_sampling import sample_positions as sample_positions
from runapi_server.storage import history as store
from runapi_server.storage.connection import Connection


def _keysets_with(conn: Connection, run_id: int, keys: Sequence[str]) -> list[int] | None:
    """Ids of the run's keysets that may hold every key (a dotted key also through its
    top-level prefix); None when that is all of them."""
    keysets = store.run_keysets(conn, run_id)
    options = [top_level_names(key) for key in keys]
    matching = []
    for keyset_id, names in keysets:
        present = set(names)
        if all(any(name in present for name in names_of) for names_of in options):
            matching.append(keyset_id)
    return None if len(matching) == len(keysets) else matching


def sampled_history(
    conn: Connection,
    run_id: int,
    keys: Sequence[str],
    *,
    samples: int | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
) -> list[dict[str, Any]]:
    """Rows having every key in ``keys``, reduced to those keys, sampled by index like
    :func:`runapi_server.storage.history.history_rows` (first and last row kept).

    ```python
    sampled_history(conn, run_id, ["loss"], samples=2)  # -> [{"loss": 1.0}, {"loss": 0.1}]
    ```
    """
    keyset_ids = _keysets_with(conn, run_id, keys)
    if keyset_ids == []:
        return []
    texts = store.history_rows(
        conn, run_id, samples=samples, min_step=min_step, max_step=max_step, keyset_ids=keyset_ids
    )
    return picked_rows(texts, keys, every=True)


def history_keys(conn: Connection, run_id: int) -> dict[str, Any]:
    """``{"lastStep": n, "keys": {key: {"typeCounts": [{"type": t, "count": c}, ...]}}}``."""
    keys: dict[str, Any] = {}
    for key, kind, count in store.key_type_counts(conn, run_id):
        entry = keys.setdefault(key, {"typeCounts": []})
        entry["typeCounts"].append({"type": kind, "count": count})
    return {"lastStep": store.last_step(conn, run_id), "keys": keys}


def live_rows(
    conn: Connection, run_id: int, keys: Sequence[str], *, after_line: int | None = None
) -> list[dict[str, Any]]:
    """History rows (by step) after line ``after_line`` (None: all) reduced to ``keys``.

    Rows holding none of the keys are left out.
    """
    result = []
    for texts in store.row_batches(conn, run_id, after_line=after_line):
        result += picked_rows(texts, keys, every=False)
    return result
