"""Reading history: sampled (`Run.history`) and full scans (`Run.scan_history`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from ._context import Context
from ._json import decode_rows, dumps, row_objects
from ._lookup import require_run
from ._paths import RunPath

if TYPE_CHECKING:
    import pandas

Stream = Literal["default", "system"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, not {value!r}")
    return value


def check_keys(keys: object) -> list[str] | None:
    """`None` or a list of str; anything else is a `ValueError`."""
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"keys must be a list of non-empty str, not {keys!r}")
    return list(keys)


def _spec_keys(keys: list[str], x_axis: str) -> list[str]:
    return keys if x_axis in keys else [*keys, x_axis]


def fetch_history(
    ctx: Context,
    path: RunPath,
    *,
    samples: int,
    keys: list[str] | None,
    x_axis: str,
    stream: str,
) -> list[dict[str, Any]]:
    """Sampled history rows (validated arguments; see `Run.history`)."""
    _check_int("samples", samples, 1)
    checked = check_keys(keys)
    if not isinstance(x_axis, str) or not x_axis:
        raise ValueError(f"x_axis must be a non-empty str, not {x_axis!r}")
    if stream not in ("default", "system"):
        raise ValueError(f"stream must be 'default' or 'system', not {stream!r}")
    client = ctx.gql.client
    e, p, n = path.entity, path.project, path.run_id
    if stream == "system":
        events = require_run(ctx.gql.call(client.get_run_events, e, p, n, samples=samples), path)
        rows = decode_rows(events.events, "events")
        if checked is not None:
            wanted = _spec_keys(checked, x_axis)
            rows = [
                {k: r[k] for k in wanted if k in r} for r in rows if all(k in r for k in wanted)
            ]
        return rows
    if checked is None:
        run = require_run(ctx.gql.call(client.get_run_history, e, p, n, samples=samples), path)
        return decode_rows(run.history)
    spec = dumps({"keys": _spec_keys(checked, x_axis), "samples": samples})
    sampled = require_run(ctx.gql.call(client.get_run_sampled_history, e, p, n, specs=[spec]), path)
    return row_objects(sampled.sampled_history[0] if sampled.sampled_history else [])


def rows_to_dataframe(rows: list[dict[str, Any]]) -> pandas.DataFrame:
    """A DataFrame with one row per history row (columns: union of keys, in order seen)."""
    import pandas

    return pandas.DataFrame.from_records(rows) if rows else pandas.DataFrame()


class HistoryScan:
    """Every history row of a run, read lazily in windows of `page_size` steps.

    Reads `historyKeys.lastStep`, then asks for steps `[a, a + page_size)` one window at a
    time, so memory holds one page; rows are neither duplicated nor skipped.

    ```python
    for row in run.scan_history(keys=["loss"], page_size=500):
        print(row["_step"], row["loss"])
    df = run.scan_history().to_pandas()
    ```
    """

    def __init__(
        self,
        ctx: Context,
        path: RunPath,
        *,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> None:
        self._ctx = ctx
        self._path = path
        self._keys = check_keys(keys)
        self._page_size = _check_int("page_size", page_size, 1)
        self._min_step = None if min_step is None else _check_int("min_step", min_step, 0)
        self._max_step = None if max_step is None else _check_int("max_step", max_step, 0)

    @property
    def keys(self) -> list[str] | None:
        """The requested keys (None: every key)."""
        return self._keys

    @property
    def page_size(self) -> int:
        """Steps per request."""
        return self._page_size

    def _last_step(self) -> int:
        client = self._ctx.gql.client
        run = require_run(
            self._ctx.gql.call(
                client.get_run_history_keys,
                entity=self._path.entity,
                project=self._path.project,
                name=self._path.run_id,
            ),
            self._path,
        )
        history_keys = run.history_keys
        if isinstance(history_keys, dict):
            last = history_keys.get("lastStep")
            if isinstance(last, int | float) and not isinstance(last, bool):
                return int(last)
        return -1

    def _window(self, start: int, stop: int) -> list[dict[str, Any]]:
        client = self._ctx.gql.client
        key = {"entity": self._path.entity, "project": self._path.project}
        if self._keys is None:
            run = require_run(
                self._ctx.gql.call(
                    client.get_run_history,
                    name=self._path.run_id,
                    samples=self._page_size,
                    min_step=start,
                    max_step=stop,
                    **key,
                ),
                self._path,
            )
            return decode_rows(run.history)
        spec = dumps(
            {
                "keys": _spec_keys(self._keys, "_step"),
                "samples": self._page_size,
                "minStep": start,
                "maxStep": stop,
            }
        )
        sampled = require_run(
            self._ctx.gql.call(
                client.get_run_sampled_history, name=self._path.run_id, specs=[spec], **key
            ),
            self._path,
        )
        return row_objects(sampled.sampled_history[0] if sampled.sampled_history else [])

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The rows one window at a time (empty windows are skipped)."""
        end = self._last_step() + 1
        if self._max_step is not None:
            end = min(end, self._max_step)
        start = self._min_step or 0
        while start < end:
            stop = min(start + self._page_size, end)
            rows = self._window(start, stop)
            if rows:
                yield rows
            start = stop

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page

    def to_pandas(self) -> pandas.DataFrame:
        """Every row as a DataFrame, built column by column (no list of row dicts kept)."""
        import pandas

        columns: dict[str, list[Any]] = {}
        count = 0
        for page in self.pages():
            for row in page:
                for name, value in row.items():
                    column = columns.get(name)
                    if column is None:
                        column = columns[name] = [None] * count
                    column.append(value)
                count += 1
                for column in columns.values():
                    if len(column) < count:
                        column.append(None)
        return pandas.DataFrame(columns)

    def __repr__(self) -> str:
        return f"<HistoryScan {self._path} keys={self._keys} page_size={self._page_size}>"
