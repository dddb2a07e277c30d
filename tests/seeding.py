"""Helpers that fill the live server the way the W&B SDK does (over real HTTP).

- `make_api(user)`: a `runapi.Api` for a test user.
- `new_run(api, project)`: `Run.create` with a fresh id.
- `stream(user, path, {file: lines}, offsets=...)`: one file_stream POST (history, events,
  summary, other files), as in WIRE.md.
- `log_history(user, path, rows)`, `log_events(...)`, `finish(...)`: common uses of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import runapi

if TYPE_CHECKING:
    from conftest import User


_OPEN_APIS: list[runapi.Api] = []


def track(api: runapi.Api) -> runapi.Api:
    """Close `api` when the test ends (needs the `close_apis` fixture imported)."""
    _OPEN_APIS.append(api)
    return api


@pytest.fixture(autouse=True)
def close_apis() -> Iterator[None]:
    """Import this into a test module: closes every `make_api` client after each test."""
    yield
    while _OPEN_APIS:
        _OPEN_APIS.pop().close()


def make_api(user: User, **kwargs: Any) -> runapi.Api:
    """A `runapi.Api` for `user` on its server (keyword arguments passed on); closed
    after the test when the module imports `close_apis`."""
    return track(runapi.Api(api_key=user.api_key, base_url=user.server.url, **kwargs))


def new_run(
    api: runapi.Api, user: User, project: str = "proj", run_id: str | None = None
) -> runapi.Run:
    """Create a run of `user` in `project`."""
    return runapi.Run.create(api, run_id=run_id, project=project, entity=user.entity)


def stream(
    user: User,
    run: runapi.Run,
    files: Mapping[str, Sequence[str]],
    *,
    offsets: Mapping[str, int] | None = None,
    complete: bool | None = None,
    exitcode: int | None = None,
) -> httpx.Response:
    """POST one file_stream chunk; `files` maps file name to its lines."""
    body: dict[str, Any] = {
        "files": {
            name: {"offset": (offsets or {}).get(name, 0), "content": list(lines)}
            for name, lines in files.items()
        },
        "dropped": 0,
    }
    if complete is not None:
        body["complete"] = complete
    if exitcode is not None:
        body["exitcode"] = exitcode
    url = f"{user.server.url}/files/{run.entity}/{run.project}/{run.id}/file_stream"
    response = httpx.post(
        url,
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        auth=user.auth,
        timeout=30.0,
    )
    return response


def rows_text(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """JSON lines as the SDK writes them (bare NaN/Infinity allowed)."""
    return [json.dumps(dict(row)) for row in rows]


def log_history(
    user: User,
    run: runapi.Run,
    rows: Sequence[Mapping[str, Any]],
    *,
    offset: int = 0,
    chunk: int = 1000,
) -> None:
    """Stream history rows (in chunks of `chunk` lines) starting at line `offset`."""
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        response = stream(
            user,
            run,
            {"wandb-history.jsonl": rows_text(part)},
            offsets={"wandb-history.jsonl": offset + start},
        )
        response.raise_for_status()


def log_events(user: User, run: runapi.Run, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stream system-metrics rows (`wandb-events.jsonl`)."""
    stream(user, run, {"wandb-events.jsonl": rows_text(rows)}).raise_for_status()


def finish(user: User, run: runapi.Run, exitcode: int = 0) -> None:
    """The SDK's last post: `complete: true` with the exit code."""
    stream(user, run, {}, complete=True, exitcode=exitcode).raise_for_status()


def steps(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    """`n` history rows `_step = start..start+n-1` with `loss` and `acc` values."""
    return [
        {
            "_step": step,
            "_runtime": step * 0.5,
            "_timestamp": 1_700_000_000 + step,
            "loss": 1.0 / (step + 1),
            "acc": step / (n + start),
            **extra,
        }
        for step in range(start, start + n)
    ]
