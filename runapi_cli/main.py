"""The `runapi` command: `serve`, `users create`, `demo`, and the client commands
`runs`, `history`, `files`, `download`, `export`, `artifact put|download`, `schema check`.

Exit codes: 0 success, 1 failure (one line on stderr; a traceback too with `--debug`),
2 bad usage.
The server and uvicorn are imported only by the commands that need them, so the
client-only install (`pip install runapi`) can still show `runapi --help`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sqlite3
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runapi import RunapiError
from runapi_cli import commands_artifacts, commands_runs, export, schema_check
from runapi_cli.common import CommandError, UsageError, client_options
from runapi_cli.paths import default_data_dir
from runapi_cli.serving import listen, url_for

if TYPE_CHECKING:
    from runapi_server.limits import Limits

SERVER_EXTRA_HINT = "the local server needs its extra: pip install 'runapi[server]'"
SERVER_MODULES = frozenset({"ariadne", "graphql", "starlette", "uvicorn"})

EXAMPLES = """\
examples:
  runapi serve                              # http://127.0.0.1:8080, per-user data dir
  runapi serve --port 9000 --data-dir ./data
  runapi users create alice                 # prints alice's new API key
  WANDB_BASE_URL=http://127.0.0.1:8080 WANDB_API_KEY=<key> python train.py
  runapi demo                               # fill a throwaway server and tour the API
  runapi runs alice/mnist --format csv      # the client commands read WANDB_API_KEY,
  runapi history alice/mnist/1a2b3c4d --all --out h.parquet   # WANDB_BASE_URL, ~/.netrc
  runapi files alice/mnist/1a2b3c4d --pattern '*.json'
  runapi download alice/mnist/1a2b3c4d --dir out
  runapi export alice/mnist --out export-dir
  runapi artifact put data/mnist --project mnist --name mnist --type dataset
  runapi artifact download alice/mnist/mnist:latest --root data/mnist
  runapi schema check --url http://127.0.0.1:8080
"""


def _server_import_error(exc: ImportError) -> CommandError:
    root = (exc.name or "").split(".")[0]
    if root in SERVER_MODULES:
        return CommandError(f"{SERVER_EXTRA_HINT} (missing module {root!r})")
    return CommandError(f"import failed: {exc}")


def _listen(host: str, port: int) -> socket.socket:
    try:
        return listen(host, port)
    except socket.gaierror as exc:
        raise CommandError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _parse_limits(items: list[str]) -> Limits:
    """`Limits` from `--limit NAME=VALUE` options (names as in runapi_server.limits)."""
    from runapi_server.limits import Limits

    known = {f.name for f in dataclasses.fields(Limits)}
    values: dict[str, int] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise UsageError(
                f"--limit takes NAME=VALUE with NAME one of: {', '.join(sorted(known))}"
            )
        try:
            values[name] = int(raw)
        except ValueError as exc:
            raise UsageError(f"--limit {name}: {raw!r} is not an integer") from exc
    try:
        return Limits(**values)
    except ValueError as exc:
        raise UsageError(f"--limit: {exc}") from exc


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from runapi_server.app import create_app
    except ImportError as exc:
        raise _server_import_error(exc) from exc
    limits = _parse_limits(args.limit)
    logging.getLogger("runapi_server").setLevel(args.log_level.upper())
    data_dir: Path = args.data_dir or default_data_dir()
    sock = _listen(args.host, args.port)
    url = url_for(sock, args.host)
    try:
        app = create_app(data_dir, public_url=url, limits=limits)
    except (OSError, sqlite3.Error) as exc:
        sock.close()
        raise CommandError(f"cannot use data dir {data_dir}: {exc}") from exc
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=args.access_log, timeout_graceful_shutdown=5
    )
    print(f"runapi server listening on {url} (data: {data_dir.resolve()})", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    try:
        from runapi_server.users import create_user
    except ImportError as exc:
        raise _server_import_error(exc) from exc
    data_dir: Path = args.data_dir or default_data_dir()
    try:
        key = create_user(data_dir, args.name)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    except (OSError, sqlite3.Error) as exc:
        raise CommandError(f"cannot use data dir {data_dir}: {exc}") from exc
    print(key, flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        import httpx

        from runapi import RunapiError
        from runapi_cli.demo import run_demo
    except ImportError as exc:
        raise _server_import_error(exc) from exc
    try:
        return run_demo(samples=args.samples)
    except (RunapiError, httpx.HTTPError) as exc:
        raise CommandError(f"demo failed: {type(exc).__name__}: {exc}") from exc


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {value}")
    return value


def _samples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, not {value}")
    return value


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where the database and files live (default: {default_data_dir()})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `runapi` command."""
    parser = argparse.ArgumentParser(
        prog="runapi",
        description="runapi: a typed client for the W&B run API and a local W&B-compatible server.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the local W&B-compatible server",
        description="Serve W&B's GraphQL, file_stream and file endpoints from a local data dir.",
        epilog="example:\n  runapi serve --port 9000 --data-dir ./data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8080, help="port to bind, 0 for any free port (default: 8080)"
    )
    _add_data_dir(serve)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: info)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a request limit, e.g. --limit max_page_size=500 (repeatable; names and "
        "defaults in runapi_server/limits.py)",
    )
    serve.set_defaults(handler=cmd_serve)

    users = commands.add_parser(
        "users", help="manage local server users", description="Manage local server users."
    )
    user_commands = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    create = user_commands.add_parser(
        "create",
        help="create a user (and its entity) and print a new API key",
        description="Create user NAME with entity NAME if new, and print a new API key alone "
        "on stdout. Works whether or not the server is running.",
        epilog="example:\n  export WANDB_API_KEY=$(runapi users create alice)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("name", metavar="NAME", help="user and entity name, e.g. alice")
    _add_data_dir(create)
    create.set_defaults(handler=cmd_users_create)

    demo = commands.add_parser(
        "demo",
        help="fill a throwaway local server with runs and tour the runapi API",
        description="Start a local server on a free port with a temporary data dir, log a few "
        "training runs to it the way the W&B SDK does, then read them back with runapi.",
    )
    demo.add_argument(
        "--samples",
        type=_samples,
        default=12,
        help="rows in the sampled history shown (default: 12)",
    )
    demo.set_defaults(handler=cmd_demo)

    client = client_options()
    commands_runs.add_parsers(commands, client)
    commands_artifacts.add_parser(commands, client)
    export.add_parser(commands, client)
    schema_check.add_parser(commands, client)
    return parser


def _enable_debug_log() -> Callable[[], None]:
    """Log runapi's requests to stderr; returns the function that undoes it."""
    logger = logging.getLogger("runapi")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s runapi %(levelname)s %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    return undo


def _fail(parser: argparse.ArgumentParser, exc: BaseException, debug: bool, code: int) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    kind = "" if isinstance(exc, CommandError | UsageError) else f"{type(exc).__name__}: "
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"{parser.prog}: error: {kind}{message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `runapi` command with `argv` (default: `sys.argv[1:]`); return the exit code.

    ```python
    main(["users", "create", "alice", "--data-dir", "data"])  # prints the key, returns 0
    ```
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    undo_log = _enable_debug_log() if debug else None
    try:
        code: int = args.handler(args)
    except (CommandError, RunapiError, OSError) as exc:
        return _fail(parser, exc, debug, 1)
    except (UsageError, ValueError) as exc:
        return _fail(parser, exc, debug, 2)
    except KeyboardInterrupt:
        return 130
    finally:
        if undo_log is not None:
            undo_log()
    return code
