"""What the client commands share: the error type, credentials options, output helpers."""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import runapi


class CommandError(Exception):
    """A failure worth one line on stderr and exit status 1."""


class UsageError(Exception):
    """Bad usage found after parsing (a malformed JSON option...): exit status 2."""


def client_options() -> argparse.ArgumentParser:
    """The options every client command takes (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=None,
        help="server URL (default: $WANDB_BASE_URL, else https://api.wandb.ai)",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=None,
        help="API key (default: $WANDB_API_KEY, else ~/.netrc for the host)",
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (also: RUNAPI_PROGRESS=0; none is drawn when stderr is "
        "not a terminal)",
    )
    group.add_argument("--debug", action="store_true", help="tracebacks and request logs")
    return parent


def make_api(args: argparse.Namespace) -> runapi.Api:
    """An `Api` from `--api-key` / `--base-url`, else the same settings as `runapi.Api()`."""
    try:
        return runapi.Api(api_key=args.api_key, base_url=args.base_url)
    except runapi.MissingAPIKeyError as exc:
        raise no_key_error(exc) from exc


def no_key_error(exc: runapi.MissingAPIKeyError) -> CommandError:
    """The missing-key error in the command line's terms (options, not Python arguments)."""
    return CommandError(
        f"no W&B API key found: pass --api-key KEY, set WANDB_API_KEY, or add "
        f"'machine {exc.host} login user password KEY' to ~/.netrc (for a local server, "
        "`runapi users create NAME` prints a key)"
    )


def progress_flag(args: argparse.Namespace) -> bool | None:
    """`progress=` for the facade: False with `--no-progress`, else None (decide by TTY)."""
    return False if getattr(args, "no_progress", False) else None


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """The JSON object given to `option`, or `UsageError` naming the problem."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f'{option} must be a JSON object such as \'{{"state": "finished"}}\'')
    return value


def cell(value: Any) -> str:
    """A value as text for a table or CSV cell (None: empty; dicts and lists: JSON)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple | bool):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def print_table(rows: list[list[str]], headers: list[str], out: IO[str]) -> None:
    """Aligned columns, a header line first."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [headers, *rows]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it when the block succeeds.

    ```python
    with atomic_path(Path("out.csv")) as tmp:
        tmp.write_text("a,b\\n")
    ```
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    # Created with 0o666 so the umask decides the mode, as for any file the user writes
    # (tempfile.mkstemp would leave it -rw------- after the rename).
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
