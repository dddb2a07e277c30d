"""Sampled history (`Run.history`): argument checks, rows and the column-built frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ._context import Context
from ._history_requests import (
    check_int,
    check_keys,
    history_texts,
    sampled_rows,
    spec_keys,
)
from ._json import ColumnBuilder, decode_rows, dumps
from ._lookup import require_run
from ._paths import RunPath

if TYPE_CHECKING:
    import pandas

Stream = Literal["default", "system"]


def _checked_args(
    samples: int, keys: list[str] | None, x_axis: str, stream: str
) -> list[str] | None:
    check_int("samples", samples, 1)
    checked = check_keys(keys)
    if not isinstance(x_axis, str) or not x_axis:
        raise ValueError(f"x_axis must be a non-empty str, not {x_axis!r}")
    if stream not in ("default", "system"):
        raise ValueError(f"stream must be 'default' or 'system', not {stream!r}")
    return checked


def history_frame(
    ctx: Context,
    path: RunPath,
    *,
    samples: int,
    keys: list[str] | None,
    x_axis: str,
    stream: str,
) -> pandas.DataFrame:
    """Sampled history as a DataFrame, built column by column (see `Run.history`)."""
    checked = _checked_args(samples, keys, x_axis, stream)
    columns = ColumnBuilder()
    if stream == "default" and checked is None:
        columns.add_texts(history_texts(ctx, path, samples, None, None))
    else:
        rows = fetch_history(ctx, path, samples=samples, keys=keys, x_axis=x_axis, stream=stream)
        columns.add(rows)
    return columns.to_pandas()


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
    checked = _checked_args(samples, keys, x_axis, stream)
    client = ctx.gql.client
    e, p, n = path.entity, path.project, path.run_id
    if stream == "system":
        events = require_run(ctx.gql.call(client.get_run_events, e, p, n, samples=samples), path)
        rows = decode_rows(events.events, "events")
        if checked is not None:
            wanted = spec_keys(checked, x_axis)
            rows = [
                {k: r[k] for k in wanted if k in r} for r in rows if all(k in r for k in wanted)
            ]
        return rows
    if checked is None:
        return decode_rows(history_texts(ctx, path, samples, None, None))
    return sampled_rows(ctx, path, dumps({"keys": spec_keys(checked, x_axis), "samples": samples}))
