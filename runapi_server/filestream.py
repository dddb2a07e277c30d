"""W&B's file stream: ``POST /files/{entity}/{project}/{run}/file_stream``.

The SDK posts chunks of lines per file, each with the line number (``offset``) of its
first line; lines are stored by line number, so a re-sent chunk overwrites itself:

- ``wandb-history.jsonl``: history rows (:mod:`runapi_server.history`);
- ``wandb-events.jsonl``: system-metrics rows; the latest becomes ``systemMetrics``;
- ``wandb-summary.json``: the last line replaces the run's summary whole;
- any other name: lines of a run file of that name (listed by ``files()``).

``"complete": true`` with ``"exitcode": n`` finishes the run (``finished`` for 0, else
``failed``). A whole post is validated and written in one transaction (the history lines
of a large post are parsed while the lines before them are inserted, see
:mod:`runapi_server.history_ingest`): a bad post gets 400 and changes nothing.

```python
httpx.post(f"{base}/files/me/proj/run1/file_stream", auth=("api", key),
           json={"files": {"wandb-history.jsonl": {"offset": 0, "content": ['{"_step": 0}']}}})
```
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib still works
    orjson = None  # type: ignore[assignment]
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runapi_server import export_worker, history, history_ingest, parquet_export, runfiles
from runapi_server.auth import AuthUser
from runapi_server.incoming import Refused, authenticated_body
from runapi_server.jsonresponse import WandbJSONResponse, error_response
from runapi_server.limits import Limits
from runapi_server.lookup import find_run
from runapi_server.state import ServerState
from runapi_server.storage import files as stored_files
from runapi_server.storage import history as history_store
from runapi_server.storage import runs as stored_runs
from runapi_server.timeutil import now_iso

HISTORY_FILE = "wandb-history.jsonl"
EVENTS_FILE = "wandb-events.jsonl"
SUMMARY_FILE = "wandb-summary.json"


class StreamError(ValueError):
    """A malformed post; the message says what is wrong."""


@dataclass
class StreamPost:
    """A validated file-stream post, ready to store."""

    history_chunks: list[history.HistoryChunk] = field(default_factory=list)
    # (file name, offset, lines) of history lines checked in the write (``defer_history``)
    history_lines: tuple[str, int, list[str]] | None = None
    event_chunks: list[list[history.EventLine]] = field(default_factory=list)
    summary: str | None = None
    other: list[tuple[str, int, list[str]]] = field(default_factory=list)
    complete: bool = False
    exitcode: int | None = None


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _int_field(
    value: Any, what: str, lo: int = history.INT64_MIN, hi: int = history.INT64_MAX
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StreamError(f"{what} must be an integer, got {_short_json(value)}")
    if not lo <= value <= hi:
        raise StreamError(f"{what} out of range: {value} is not between {lo} and {hi}")
    return value


def _short_json(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else text[:100] + "..."


def _file_chunk(name: str, chunk: Any) -> tuple[int, list[str]]:
    if not isinstance(chunk, dict):
        raise StreamError(f"files[{name!r}] must be an object with 'offset' and 'content'")
    offset = _int_field(chunk.get("offset", 0), f"files[{name!r}].offset")
    if offset < 0:
        raise StreamError(f"files[{name!r}].offset must not be negative, got {offset}")
    content = chunk.get("content", [])
    if not isinstance(content, list) or (content and set(map(type, content)) != {str}):
        raise StreamError(f"files[{name!r}].content must be a list of strings")
    if offset + len(content) > history.INT64_MAX:
        raise StreamError(f"files[{name!r}].offset {offset} is too large")
    return offset, content


def parse_post(body: Any, *, defer_history: bool = False) -> StreamPost:
    """Validate a decoded post body; raises :class:`StreamError` naming the first problem.

    With ``defer_history`` the history lines are kept unparsed (``history_lines``), for
    :func:`apply_post` to parse while it stores them; the rest is checked here, and an
    error here is the first problem only when the history lines have none (see
    :func:`_parse_limited`).
    """
    if not isinstance(body, dict):
        raise StreamError("file_stream body must be a JSON object")
    files = body.get("files", {})
    if not isinstance(files, dict):
        raise StreamError("'files' must be an object mapping file names to chunks")
    post = StreamPost()
    try:
        for name, chunk in files.items():
            offset, content = _file_chunk(name, chunk)
            if name == HISTORY_FILE and defer_history:
                post.history_lines = (name, offset, content)
            elif name == HISTORY_FILE:
                post.history_chunks.append(history.parse_history(name, offset, content))
            elif name == EVENTS_FILE:
                post.event_chunks.append(history.parse_events(name, offset, content))
            elif name == SUMMARY_FILE:
                if content:
                    history.parse_object(content[-1], f"{name} line {offset + len(content) - 1}")
                    post.summary = content[-1]
            else:
                problem = runfiles.check_file_name(name)
                if problem:
                    raise StreamError(problem)
                post.other.append((name, offset, content))
    except history.RowError as exc:
        raise StreamError(str(exc)) from exc
    complete = body.get("complete", False)
    if not isinstance(complete, bool):
        raise StreamError(f"'complete' must be a boolean, got {json.dumps(complete)}")
    post.complete = complete
    exitcode = body.get("exitcode")
    post.exitcode = (
        None if exitcode is None else _int_field(exitcode, "'exitcode'", INT32_MIN, INT32_MAX)
    )
    dropped = body.get("dropped", 0)
    if _int_field(dropped, "'dropped'") < 0:
        raise StreamError("'dropped' must not be negative")
    return post


def apply_post(
    state: ServerState, user: AuthUser, entity: str, project: str, run_name: str, post: StreamPost
) -> bool:
    """Store a validated post in one transaction; False when the caller has no such run.

    History lines left unparsed (``history_lines``) are parsed here: in the write, in
    parts overlapping their inserts (:mod:`runapi_server.history_ingest`) when the
    database allows it, else before it; a bad line raises :class:`StreamError` and
    nothing is stored.
    """
    now = now_iso()
    pending = post.history_lines
    if pending is not None and not history_ingest.worth_parts(state.db.dialect, len(pending[2])):
        post.history_chunks.append(_parse_history(*pending))
        post.history_lines = pending = None
    found = find_run(state.db.read(), user, entity, project, run_name)
    if found is None:
        if pending is not None:  # a bad post is refused before a missing run
            _parse_history(*pending)
        return False
    # Writes only this run's rows (key sets are added ON CONFLICT DO NOTHING, in order):
    # on PostgreSQL, posts to other runs go on meanwhile.
    with state.db.transaction(run_id=int(found["id"])) as conn:
        run = find_run(conn, user, entity, project, run_name)
        if run is None:
            if pending is not None:
                _parse_history(*pending)
            return False
        run_id: int = run["id"]
        if pending is not None:  # the post's only history lines (one file name a post)
            try:
                post.history_chunks = history_ingest.store_parsing(conn, run_id, *pending)
            except history.RowError as exc:
                raise StreamError(str(exc)) from exc
        else:
            for chunk in post.history_chunks:
                history_store.store_history(conn, run_id, chunk)
        for event_lines in post.event_chunks:
            history_store.store_events(conn, run_id, event_lines)
        for name, offset, content in post.other:
            stored_files.store_stream_lines(
                conn, run_id, name, offset, content, mimetype=runfiles.mimetype_of(name), now=now
            )
        end, rewrites = None, None
        if post.complete:
            final = "finished" if post.exitcode in (None, 0) else "failed"
            end = stored_runs.RunEnd(state=final, exitcode=post.exitcode)
        stored_runs.record_stream_post(conn, run_id, now=now, summary=post.summary, end=end)
        if post.complete:  # the run's last post: its exports are complete when answered
            chunks = export_worker.joined(post.history_chunks)  # parts: one chunk
            parquet_export.export_pending(state, conn, run_id, chunks, final=True)
        elif post.history_chunks:  # what the exporter checks the chunks' lines by
            rewrites = history_store.stream_stats(conn, run_id, history_store.HISTORY).rewrites
    if post.history_chunks and not post.complete:  # exports kept current, off the request
        export_worker.after_post(state, run_id, post.history_chunks, rewrites)
    return True


def _parse_history(name: str, offset: int, content: list[str]) -> history.HistoryChunk:
    try:
        return history.parse_history(name, offset, content)
    except history.RowError as exc:
        raise StreamError(str(exc)) from exc


def _exact(body: Any) -> bool:
    """Whether orjson's reading of a post is the stdlib's for every number parse_post
    uses (orjson reads integers beyond 64 bits as floats; a float there is an error)."""
    if not isinstance(body, dict):
        return True
    numbers = [body.get("exitcode"), body.get("dropped")]
    files = body.get("files")
    if isinstance(files, dict):
        numbers += [c.get("offset") for c in files.values() if isinstance(c, dict)]
    return not any(type(n) is float for n in numbers)


def _decode(raw: bytes) -> Any:
    if orjson is not None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # bare NaN, a lone surrogate, or bad JSON: the stdlib decides and says why
        else:
            if _exact(body):
                return body
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise StreamError(f"file_stream body is not valid JSON: {exc}") from exc


def _parse_limited(raw: bytes, limits: Limits) -> StreamPost:
    body = _decode(raw)
    problem = limits.stream_problem(body)
    if problem:
        raise StreamError(problem)
    try:
        return parse_post(body, defer_history=True)
    except StreamError:
        parse_post(body)  # the first problem, history lines included, as parsed in order
        raise


async def file_stream(request: Request) -> Response:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    limits = state.limits
    try:
        user, raw = await authenticated_body(
            request, state, limits.max_stream_bytes, "file_stream body"
        )
    except Refused as exc:
        return exc.response()
    entity, project, run_name = _path_parts(request)
    try:
        post = await run_in_threadpool(_parse_limited, raw, limits)
    except StreamError as exc:
        return error_response(str(exc), 400)
    try:
        found = await run_in_threadpool(apply_post, state, user, entity, project, run_name, post)
    except StreamError as exc:  # a bad history line, found as the lines were stored
        return error_response(str(exc), 400)
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800") in a line or file name: rolled back, nothing stored.
        return error_response("file_stream post holds text that is not valid Unicode", 400)
    if not found:
        return error_response(f"run {entity}/{project}/{run_name} not found", 404)
    return WandbJSONResponse({"exitcode": None, "limits": {}})


def _path_parts(request: Request) -> Sequence[str]:
    params = request.path_params
    return str(params["entity"]), str(params["project"]), str(params["run"])


ROUTES: list[BaseRoute] = [
    Route("/files/{entity}/{project}/{run}/file_stream", file_stream, methods=["POST"]),
]
