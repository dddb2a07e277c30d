"""HTML for notebooks: compact tables for `Run` and `Runs`, and the run page iframe.

Every value is escaped; nothing here loads scripts or styles from elsewhere.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _rest as rest
from ._json import dumps
from ._paths import RunPath

if TYPE_CHECKING:
    from ._context import Context
    from ._run import Run
    from ._runs import Runs

MAX_ITEMS = 12
"""Config and summary entries shown per run before `…`."""
MAX_RUNS = 20
"""Runs shown by `Runs._repr_html_`."""
PAGE_TOKEN_PATH = "pages/token"
"""The local server's endpoint that signs short-lived run page tokens (Basic auth)."""

_TABLE_STYLE = "border-collapse:collapse;font-size:12px;text-align:left"
_CELL_STYLE = "padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top"


def esc(value: object) -> str:
    """`value` as escaped HTML text.

    ```python
    >>> esc("<b>")
    '&lt;b&gt;'
    ```
    """
    return html.escape(str(value), quote=True)


def short(value: Any, limit: int = 60) -> str:
    """A compact display text for a config or summary value (not yet escaped)."""
    if isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
        if math.isfinite(value) and abs(value) >= 1e-3:
            text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return f'<{tag} style="{_CELL_STYLE}">{text}</{tag}>'


def _pairs(values: Mapping[str, Any]) -> str:
    items = list(itertools.islice(values.items(), MAX_ITEMS))
    text = "<br>".join(f"{esc(k)}: {esc(short(v))}" for k, v in items)
    if len(values) > MAX_ITEMS:
        text += f"<br>… {len(values) - MAX_ITEMS} more"
    return text


def _table(rows: Iterable[str], caption: str = "") -> str:
    head = f'<caption style="text-align:left">{caption}</caption>' if caption else ""
    return f'<table style="{_TABLE_STYLE}">{head}{"".join(rows)}</table>'


def run_table(run: Run) -> str:
    """A run as a compact two-column table: identity, state, tags, config, summary.

    ```python
    run_table(run)  # what Jupyter shows for `run`
    ```
    """
    link = f'<a href="{esc(run.url)}" target="_blank">{esc(run.name)}</a>'
    fields = [
        ("run", f"{link} ({esc('/'.join(run.path))})"),
        ("state", esc(run.state)),
        ("created", esc(run.created_at.isoformat(sep=" ", timespec="seconds"))),
        ("tags", esc(", ".join(run.tags)) or "-"),
        ("config", _pairs(run.config) or "-"),
        ("summary", _pairs({k: v for k, v in run.summary.items() if not k.startswith("_")})),
    ]
    rows = [
        f"<tr>{_cell(esc(name), header=True)}{_cell(value or '-')}</tr>" for name, value in fields
    ]
    return _table(rows)


def runs_table(runs: Runs, limit: int = MAX_RUNS) -> str:
    """The first `limit` runs as a table: name, id, state, created, summary.

    ```python
    runs_table(api.runs("alice/mnist"))  # what Jupyter shows for `runs`
    ```
    """
    shown = list(itertools.islice(iter(runs), limit))
    total = len(runs) if len(shown) == limit else len(shown)
    header = "".join(_cell(h, header=True) for h in ("name", "id", "state", "created", "summary"))
    rows = [f"<tr>{header}</tr>"]
    for run in shown:
        summary = {k: v for k, v in run.summary.items() if not k.startswith("_")}
        cells = [
            f'<a href="{esc(run.url)}" target="_blank">{esc(run.name)}</a>',
            esc(run.id),
            esc(run.state),
            esc(run.created_at.isoformat(sep=" ", timespec="seconds")),
            _pairs(summary) or "-",
        ]
        rows.append("<tr>" + "".join(_cell(c) for c in cells) + "</tr>")
    caption = esc(f"{runs.entity}/{runs.project}: {total} runs")
    if total > len(shown):
        caption += esc(f" (first {len(shown)} shown)")
    return _table(rows, caption)


def page_token(ctx: Context, path: RunPath) -> str | None:
    """A short-lived token for the run page from the local server, or None when the
    server has no such endpoint (W&B itself: its pages use the browser's login).

    ```python
    token = page_token(ctx, RunPath("alice", "mnist", "1a2b3c4d"))
    ```
    """
    what = "POST run page token"
    body = {"entity": path.entity, "project": path.project, "run": path.run_id}
    response = rest.send(
        ctx,
        "POST",
        PAGE_TOKEN_PATH,
        what=what,
        json=body,
        ok=lambda response: not response.is_error or response.status_code in (404, 405),
    )
    if response.status_code in (404, 405):
        return None
    try:
        token = response.json().get("token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def iframe(url: str, height: int, hidden: bool) -> str:
    """An iframe of `url`, full width, `height` pixels high (hidden when asked)."""
    style = f"border:none;width:100%;height:{int(height)}px;"
    if hidden:
        style += "display:none;"
    return f'<iframe src="{esc(url)}" style="{style}"></iframe>'
