"""The run page at the run's URL, `GET /{entity}/{project}/runs/{run}`.

A self-contained HTML page: name, state, config, summary, files, and a line chart (inline
SVG drawn here, no script) of each numeric history metric over `_step`, sampled to
`CHART_POINTS` points. The page loads nothing from elsewhere; its Content-Security-Policy
forbids scripts and outside resources.

Who may see it:
- the run's owner with HTTP Basic auth (user `api`, password = API key); a browser
  without credentials gets a 401 with `WWW-Authenticate: Basic`, so it asks for them;
- anyone holding `?token=T`, a short-lived token for this one run, signed like file URLs
  (:func:`runapi_server.signing.page_token`; dead once the run is deleted).
  `POST /pages/token` with Basic auth and `{"entity", "project", "run"}` returns
  `{"token": T, "expires": unix_seconds}` (this is what `runapi.Run.to_html()` asks for).
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import bucket_files, history, signing
from runapi_server.auth import AuthUser, authenticate
from runapi_server.incoming import Refused, authenticated_body
from runapi_server.jsonresponse import error_response
from runapi_server.lookup import find_run, run_for_grant
from runapi_server.state import ServerState
from runapi_server.storage import files as stored_files
from runapi_server.storage.connection import Connection, Row

TOKEN_BODY_BYTES = 64 * 1024
CHART_POINTS = 500
MAX_CHARTS = 60
MAX_FILES = 200
HIDDEN_CONFIG_KEYS = frozenset({"_wandb", "wandb_version"})
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors *"
UNAUTHORIZED = (
    "this run page needs your API key: log in with user 'api' and the key as password, "
    "or open the page through runapi's Run.to_html() (a signed ?token= link)"
)

# --------------------------------------------------------------------------- tokens


def _state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


def _issue_token(state: ServerState, user: AuthUser, body: bytes) -> Response:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return error_response("request body is not valid JSON", 400)
    fields = ("entity", "project", "run")
    if not isinstance(data, dict) or not all(
        isinstance(data.get(f), str) and data[f] for f in fields
    ):
        return error_response("send a JSON object with string 'entity', 'project', 'run'", 400)
    entity, project, run_name = (str(data[f]) for f in fields)
    run = find_run(state.db.read(), user, entity, project, run_name)
    if run is None:
        return error_response(f"run {entity}/{project}/{run_name} not found", 404)
    expires = int(time.time()) + signing.PAGE_TTL_S
    token = signing.page_token(state.secret, signing.RunGrant.of(run), expires=expires)
    return JSONResponse({"token": token, "expires": expires})


async def issue_token(request: Request) -> Response:
    state = _state(request)
    try:
        user, body = await authenticated_body(
            request, state, TOKEN_BODY_BYTES, "page token request body", UNAUTHORIZED
        )
    except Refused as exc:
        return exc.response()
    response: Response = await run_in_threadpool(_issue_token, state, user, body)
    return response


# --------------------------------------------------------------------------- rendering


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _display(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _kv_table(values: Mapping[str, Any], empty: str) -> str:
    if not values:
        return f'<p class="muted">{esc(empty)}</p>'
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(_display(v))}</td></tr>" for k, v in values.items()
    )
    return f'<table class="kv">{rows}</table>'


def _unwrap_config(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key, item in raw.items():
        if key in HIDDEN_CONFIG_KEYS:
            continue
        out[key] = item["value"] if isinstance(item, dict) and "value" in item else item
    return out


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _tick(value: float) -> str:
    """An axis label a person reads at a glance: ``2,000``, ``0.125``, ``1.5e-07``.

    Whole numbers get thousands separators (a step axis never reads ``2e+03``); other
    values keep 3 significant digits, in exponent form only when very large or small.
    """
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e-3 <= abs(value) < 1e6:
        text = f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.3g}"


def human_size(size: int) -> str:
    """A byte count as people read it: ``512 B``, ``1.5 KiB``, ``20.0 MiB``."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def chart_svg(name: str, points: Sequence[tuple[float, float]]) -> str:
    """A line chart of `points` (x, y) as inline SVG with min/max labels on both axes."""
    width, height, left, right, top, bottom = 360, 200, 60, 10, 22, 24
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    coords = [f"{sx(x):.1f},{sy(y):.1f}" for x, y in points]
    path = "M" + " L".join(coords)
    dots = ""
    if len(points) == 1:
        x, y = points[0]
        dots = f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#1f77b4"/>'
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{esc(name)}">'
        f'<text x="{left}" y="14" class="title">{esc(name)}</text>'
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>'
        f'<path d="{path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>{dots}'
        f'<text x="{left - 4}" y="{top + 8}" class="tick" text-anchor="end">{_tick(y1)}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" class="tick" text-anchor="end">'
        f"{_tick(y0)}</text>"
        f'<text x="{left}" y="{height - 8}" class="tick">{_tick(x0)}</text>'
        f'<text x="{width - right}" y="{height - 8}" class="tick" text-anchor="end">'
        f"{_tick(x1)} _step</text>"
        "</svg>"
    )


def _metric_keys(conn: Connection, run_db_id: int) -> list[str]:
    keys = history.history_keys(conn, run_db_id)["keys"]
    numeric = [
        key
        for key, info in keys.items()
        if key != "_step"
        and not key.startswith("_")
        and any(t.get("type") == "number" for t in info.get("typeCounts", []))
    ]
    return sorted(numeric)[:MAX_CHARTS]


def _charts(conn: Connection, run_db_id: int) -> str:
    svgs = []
    for key in _metric_keys(conn, run_db_id):
        rows = history.sampled_history(conn, run_db_id, ["_step", key], samples=CHART_POINTS)
        points = []
        for row in rows:
            x, y = _number(row.get("_step")), _number(row.get(key))
            if x is not None and y is not None:
                points.append((x, y))
        if points:
            svgs.append(chart_svg(key, points))
    if not svgs:
        return '<p class="muted">No history metrics logged.</p>'
    return '<div class="charts">' + "".join(svgs) + "</div>"


def _files(state: ServerState, base: str, run: Row) -> str:
    bucket_files.settle(state, run["id"])
    conn = state.db.read()
    rows = stored_files.list_files(
        conn,
        run["id"],
        names=None,
        pattern=None,
        after=None,
        before=None,
        limit=MAX_FILES,
        from_end=False,
    )
    if not rows:
        return '<p class="muted">No files.</p>'
    items = []
    for row in rows:
        url = signing.direct_url(state.secret, base, signing.RunGrant.of(run), row["name"])
        items.append(
            f'<tr><td><a href="{esc(url)}">{esc(row["name"])}</a></td>'
            f'<td class="num">{esc(human_size(row["size"]))}</td>'
            f"<td>{esc(row['updated_at'])}</td></tr>"
        )
    return f'<table class="files">{"".join(items)}</table>'


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:18px 0 6px}
.muted{color:#777} .state{display:inline-block;padding:1px 8px;border-radius:9px;
background:#eee;font-size:12px} .state-finished{background:#d7f0d7}
.state-running{background:#d7e7fb} .state-failed,.state-crashed{background:#f7d4d4}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
table{border-collapse:collapse;font-size:13px} th,td{padding:2px 8px;text-align:left;
border-bottom:1px solid #eee;vertical-align:top} th{font-weight:600;color:#444}
td.num{text-align:right;white-space:nowrap} .charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #eee;background:#fff} svg .frame{fill:none;stroke:#ccc}
svg .title{font-size:12px;font-weight:600;fill:#333} svg .tick{font-size:10px;fill:#666}
"""


def render_page(state: ServerState, base: str, run: Row) -> str:
    """The run page's HTML."""
    conn = state.db.read()
    name = run["display_name"] or run["name"]
    path = f"{run['entity']}/{run['project_name']}/{run['name']}"
    tags = json.loads(run["tags"] or "[]")
    summary = {k: v for k, v in _json_object(run["summary"]).items() if not k.startswith("_wandb")}
    meta = [
        f'<span class="state state-{esc(run["state"])}">{esc(run["state"])}</span>',
        esc(path),
        f"created {esc(run['created_at'])}",
    ]
    if tags:
        meta.append("tags: " + esc(", ".join(str(t) for t in tags)))
    notes = f"<p>{esc(run['notes'])}</p>" if run["notes"] else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(name)} · {esc(path)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{esc(name)}</h1><p class="muted">{" · ".join(meta)}</p>{notes}'
        "<h2>Charts</h2>"
        f"{_charts(conn, run['id'])}"
        '<div class="grid">'
        f"<section><h2>Config</h2>{_kv_table(_unwrap_config(run['config']), 'No config.')}"
        "</section>"
        f"<section><h2>Summary</h2>{_kv_table(summary, 'No summary.')}</section>"
        f"<section><h2>Files</h2>{_files(state, base, run)}</section>"
        "</div></body></html>"
    )


def _html_error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{status}</title></head><body><p>{esc(message)}</p></body></html>"
    )
    return HTMLResponse(
        body, status_code=status, headers={"Content-Security-Policy": CSP, **(headers or {})}
    )


def _run_page(
    state: ServerState,
    base: str,
    authorization: str | None,
    params: dict[str, str],
    token: str | None,
) -> Response:
    entity, project, run_name = params["entity"], params["project"], params["run"]
    conn = state.db.read()
    missing = f"run {entity}/{project}/{run_name} not found"
    run: Row | None
    if authorization:
        user = authenticate(state.db, authorization)
        if user is None:
            return _html_error(UNAUTHORIZED, 401, {"WWW-Authenticate": 'Basic realm="runapi"'})
        run = find_run(conn, user, entity, project, run_name)
    elif token:
        grant, refused = signing.check_page_token(state.secret, entity, project, run_name, token)
        if refused:
            return _html_error(refused, 401, {"WWW-Authenticate": 'Basic realm="runapi"'})
        run = run_for_grant(conn, grant)
    else:
        return _html_error(UNAUTHORIZED, 401, {"WWW-Authenticate": 'Basic realm="runapi"'})
    if run is None:
        return _html_error(missing, 404)
    return HTMLResponse(
        render_page(state, base, run),
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


async def run_page(request: Request) -> Response:
    state = _state(request)
    base = state.public_url or str(request.base_url).rstrip("/")
    params = {key: str(value) for key, value in request.path_params.items()}
    response: Response = await run_in_threadpool(
        _run_page,
        state,
        base,
        request.headers.get("authorization"),
        params,
        request.query_params.get("token"),
    )
    return response


ROUTES: list[BaseRoute] = [
    Route("/pages/token", issue_token, methods=["POST"]),
    Route("/{entity}/{project}/runs/{run}", run_page, methods=["GET"]),
]
