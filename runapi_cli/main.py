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
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runapi import InvalidPathError, RunapiError
from runapi_cli import commands_artifacts, commands_runs, export, schema_check
from runapi_cli.common import CommandError, UsageError, client_options
from runapi_cli.extras import explain_import_error
from runapi_cli.paths import default_data_dir
from runapi_cli.serving import (
    DATABASE_ENV,
    WORKER_APP,
    WORKER_SETTINGS,
    StorageSettings,
    add_team_options,
    listen,
    url_for,
    worker_settings,
)

if TYPE_CHECKING:
    from runapi_server.limits import Limits


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
    return CommandError(explain_import_error(exc, "server", "the local server"))


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
        from runapi_server.heap import settle_for_serving
        from runapi_server.http_protocol import header_timeout_protocol
        from runapi_server.storage.database import database_errors
        from runapi_server.storage.migrations import SchemaTooNew
    except ImportError as exc:
        raise _server_import_error(exc) from exc
    limits = _parse_limits(args.limit)
    logging.getLogger("runapi_server").setLevel(args.log_level.upper())
    data_dir: Path = args.data_dir or default_data_dir()
    database: str | None = args.database or os.environ.get(DATABASE_ENV) or None
    unusable: tuple[type[Exception], ...] = (OSError, SchemaTooNew, *database_errors())
    storage = StorageSettings.of(args.storage, args.signing_key_file, os.environ)
    try:
        signing_key = storage.signing_key(os.environ)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    sock = _listen(args.host, args.port)
    url = url_for(sock, args.host)
    public = args.public_url or url
    try:
        app = create_app(
            data_dir,
            public_url=public,
            limits=limits,
            storage_dir=storage.storage_dir,
            signing_key=signing_key,
            database=database,
            storage_url=storage.bucket_url,
        )
    except ValueError as exc:
        sock.close()
        raise CommandError(str(exc)) from exc
    except unusable as exc:
        sock.close()
        where = f"data dir {data_dir}"
        if storage.description is not None:
            where += f" with storage {storage.description}"
        raise CommandError(f"cannot use {where}: {exc}") from exc
    db = app.state.server.db
    files = f", {db.description}" if db.dialect.name != "sqlite" else ""
    if storage.description is not None:
        files += f", files: {storage.description}"
    if public != url:
        files += f", public URL: {public}"
    print(f"runapi server listening on {url} (data: {data_dir.resolve()}{files})", flush=True)
    if args.workers > 1:
        del app  # the parent only prepared the data dir; each worker builds its own app
        _serve_workers(args, sock, worker_settings(data_dir, public, limits, storage, database))
        return 0
    options = _uvicorn_options(args, header_timeout_protocol(limits.max_header_seconds))
    settle_for_serving()
    uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    return 0


def _uvicorn_options(args: argparse.Namespace, http: type | str) -> dict[str, Any]:
    """What one process or every worker serves with: logging, shutdown and keep-alive
    times, the header deadline protocol (`http`) and a 64 KiB cap on request headers."""
    return {
        "log_level": args.log_level,
        "access_log": args.access_log,
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 5,
        "http": http,
        "h11_max_incomplete_event_size": 64 * 1024,
    }


def _serve_workers(args: argparse.Namespace, sock: socket.socket, settings: str) -> None:
    """Serve `sock` from `args.workers` uvicorn worker processes (SQLite WAL lets them read
    at once; writes take the database's write lock in turn)."""
    import inspect

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[WORKER_SETTINGS] = settings
    protocol = "runapi_server.http_protocol:HeaderTimeoutProtocol"  # limit set by worker_app
    config = uvicorn.Config(
        WORKER_APP, factory=True, workers=args.workers, **_uvicorn_options(args, protocol)
    )
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()


T = TypeVar("T")


def _users_module() -> Any:
    try:
        from runapi_server import users
    except ImportError as exc:
        raise _server_import_error(exc) from exc
    return users


def _on_data_dir(data_dir: Path, action: Callable[[], T]) -> T:
    """Run `action` on the data dir, turning its failures into one-line command errors."""
    from runapi_server.storage.database import database_errors
    from runapi_server.storage.migrations import SchemaTooNew

    unusable: tuple[type[Exception], ...] = (OSError, SchemaTooNew, *database_errors())
    try:
        return action()
    except (ValueError, LookupError) as exc:
        raise CommandError(str(exc)) from exc
    except unusable as exc:
        raise CommandError(f"cannot use data dir {data_dir}: {exc}") from exc


def cmd_users_create(args: argparse.Namespace) -> int:
    users = _users_module()
    data_dir: Path = args.data_dir or default_data_dir()
    made = _on_data_dir(data_dir, lambda: users.add_key(data_dir, args.name))
    if made.created_user:
        note = f"created user {args.name} (entity {args.name}) with a new API key"
    else:
        note = (
            f"user {args.name} already exists: added a new API key (it now has"
            f" {made.key_count}; `runapi users revoke` removes keys)"
        )
    print(made.key, flush=True)
    print(note, file=sys.stderr, flush=True)
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = _users_module()
    data_dir: Path = args.data_dir or default_data_dir()
    rows = _on_data_dir(data_dir, lambda: users.list_users(data_dir))
    width = max([len("USER"), *(len(r.user) for r in rows)])
    print(f"{'USER':<{width}}  {'KEY':<19}  CREATED")
    for row in rows:
        print(f"{row.user:<{width}}  {row.fingerprint or '(no keys)':<19}  {row.created_at}")
    return 0


def cmd_users_revoke(args: argparse.Namespace) -> int:
    users = _users_module()
    data_dir: Path = args.data_dir or default_data_dir()
    removed = _on_data_dir(data_dir, lambda: users.revoke(data_dir, args.target))
    owners = sorted({r.user for r in removed})
    keys = ", ".join(r.fingerprint or "" for r in removed)
    if not removed:
        print(f"user {args.target} has no API keys: nothing to revoke", flush=True)
    else:
        plural = "key" if len(removed) == 1 else "keys"
        print(f"revoked {len(removed)} {plural} of {', '.join(owners)}: {keys}", flush=True)
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


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"workers must be 1-64, not {value}")
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


def _add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="on failure, print the traceback too")


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
    add_team_options(serve)
    serve.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a PostgreSQL database, postgresql://user:password@host:port/dbname (default:"
        f" ${DATABASE_ENV}, else the SQLite file in the data dir); the data dir keeps its"
        " files and remembers the URL",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: info)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    _add_debug(serve)
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a request limit, e.g. --limit max_page_size=500 (repeatable; names and "
        "defaults in runapi_server/limits.py)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="worker processes serving requests (default: 1); more lets bulk reads use"
        " several cores",
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
    _add_debug(create)
    create.set_defaults(handler=cmd_users_create)
    listing = user_commands.add_parser(
        "list",
        help="list users and their API keys (fingerprints only)",
        description="List every user with each API key's fingerprint and creation time. "
        "Keys themselves are never stored, so they cannot be shown.",
        epilog="example:\n  runapi users list --data-dir data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_dir(listing)
    listing.set_defaults(handler=cmd_users_list)
    revoke = user_commands.add_parser(
        "revoke",
        help="revoke all API keys of a user, or one key by fingerprint",
        description="Revoke every API key of user NAME, or the one key whose fingerprint "
        "(as `runapi users list` shows it, sha256:...) is given. The user and their data "
        "stay; `users create NAME` gives them a new key. A running server refuses a revoked "
        "key within 5 seconds.",
        epilog="examples:\n  runapi users revoke alice\n  runapi users revoke sha256:0123abcd4567",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    revoke.add_argument("target", metavar="NAME|FINGERPRINT", help="user name or key fingerprint")
    _add_data_dir(revoke)
    revoke.set_defaults(handler=cmd_users_revoke)

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
    _add_debug(demo)
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


def _reader_went_away() -> int:
    """stdout's reader closed the pipe (``runapi history ... | head``): stop quietly.

    Later writes, including the interpreter's final flush, go to /dev/null so no second
    error is printed; the exit code is a SIGPIPE death's, as other Unix tools give.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


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
    except BrokenPipeError:
        return _reader_went_away()
    except InvalidPathError as exc:  # a RunapiError, but the user's typing: bad usage
        return _fail(parser, exc, debug, 2)
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
