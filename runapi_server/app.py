"""The ASGI app: GraphQL at /graphql plus W&B's REST endpoints (file stream, files)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from ariadne import graphql_sync, load_schema_from_path, make_executable_schema
from graphql import GraphQLEnumType, GraphQLError, GraphQLSchema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import artifact_routes, filestream, pages, parquet_export, storage_routes
from runapi_server.context import Context
from runapi_server.errors import BadInput
from runapi_server.fast_execution import FastQueryExecutionContext
from runapi_server.incoming import Refused, authenticated_body
from runapi_server.jsonresponse import WandbJSONResponse, error_response
from runapi_server.limits import Limits, ResponseBudget
from runapi_server.querycache import DocumentCache
from runapi_server.resolvers import BINDABLES
from runapi_server.state import ServerState

log = logging.getLogger("runapi_server")

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


class _ErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Logs GraphQL errors: a traceback only for unexpected ones.

    Errors about the request itself (syntax, validation, limits, :class:`BadInput`) are
    the client's and are logged at INFO in one line.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, GraphQLError) and _is_expected(error):
            kwargs["exc_info"] = None
            level = logging.INFO
        super().log(level, msg, *args, **kwargs)


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original is None or isinstance(original, BadInput | GraphQLError)


def build_schema() -> GraphQLSchema:
    schema = make_executable_schema(load_schema_from_path(str(SCHEMA_PATH)), *BINDABLES)
    _unpatch_enum_parsing(schema)
    return schema


def _unpatch_enum_parsing(schema: GraphQLSchema) -> None:
    """Give every enum back graphql-core's own ``parse_value``.

    ariadne 1.1 replaces each enum's ``parse_value`` with a one-argument wrapper (to let
    Python enum values through), but graphql-core 3.2.14+ and 3.3 call it with two, so
    any enum sent as a variable failed. This schema binds no Python values to its enums
    (a value is its name), so the wrapper has nothing to do: dropping the instance
    attribute restores the method of ``GraphQLEnumType``.
    """
    for type_def in schema.type_map.values():
        if isinstance(type_def, GraphQLEnumType) and "parse_value" in vars(type_def):
            del type_def.parse_value


async def _bad_input(_request: Request, exc: Exception) -> Response:
    """A REST route's :class:`BadInput` (raised anywhere below it): the client's 400."""
    return error_response(str(exc), 400)


def server_state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


def base_url(request: Request) -> str:
    state = server_state(request)
    return state.public_url or str(request.base_url).rstrip("/")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


QUERY_SLOTS = {"sqlite": 1}
"""Queries a server process executes at once, by database dialect.

On SQLite a query is Python work from start to end (it holds the GIL): executed together,
N queries share one core and all answer at the end; one at a time, each answers as soon
as its own work is done, in arrival order, for the same total work. A client with several
requests in flight (a runs table's pages, a bulk fetch's chunks) then decodes the first
answers while the server computes the next. A query on PostgreSQL also waits on the
database server, and several overlap those waits: `OTHER_QUERY_SLOTS`. Mutations and
operations not parsed before (rare) are not held back."""
OTHER_QUERY_SLOTS = 4


def _graphql_endpoint(schema: GraphQLSchema, documents: DocumentCache):  # type: ignore[no-untyped-def]
    slots: list[anyio.CapacityLimiter] = []  # made in the event loop, at the first query

    async def endpoint(request: Request) -> Response:
        state = server_state(request)
        limits = state.limits
        try:
            user, body = await authenticated_body(
                request, state, limits.max_graphql_bytes, "GraphQL request body"
            )
        except Refused as exc:
            return exc.response()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return error_response("request body is not valid JSON", 400)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return error_response("request body must be a JSON object with a 'query' string", 400)
        if data.get("operationName") == "":
            # wandb-core (0.22+) sends `"operationName": ""` for "no name", as W&B accepts.
            del data["operationName"]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("graphql request: %.2000s", body.decode("utf-8", "replace"))
        context = Context(
            state=state,
            user=user,
            base_url=base_url(request),
            budget=ResponseBudget(limits.max_response_bytes),
        )
        execute = partial(
            graphql_sync,
            schema,
            data,
            context_value=context,
            logger=_ErrorLog(log, {}),
            query_parser=documents.parse,
            query_validator=documents.validate,
            execution_context_class=FastQueryExecutionContext,
        )
        limiter = None
        if documents.is_query(data["query"], data.get("operationName")):
            if not slots:
                dialect = state.db.dialect.name
                slots.append(anyio.CapacityLimiter(QUERY_SLOTS.get(dialect, OTHER_QUERY_SLOTS)))
            limiter = slots[0]
        _ok, result = await anyio.to_thread.run_sync(execute, limiter=limiter)
        return WandbJSONResponse(result, status_code=200)

    return endpoint


def _closes(state: ServerState) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan: at shutdown, the database's connections are closed."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.db.close()

    return lifespan


def create_app(
    data_dir: Path,
    *,
    public_url: str | None = None,
    limits: Limits | None = None,
    cleanup: bool = True,
    storage_dir: Path | None = None,
    signing_key: bytes | None = None,
    database: str | None = None,
    storage_url: str | None = None,
) -> Starlette:
    """The server app on ``data_dir`` (created if missing), with ``limits`` (default:
        :class:`runapi_server.limits.Limits()`). ``storage_dir`` holds the files kept outside
        the database (default: the data dir; see :mod:`runapi_server.state`), ``signing_key``
        signs URLs (default: ``signing.key`` of the storage dir, made once). ``cleanup``
        removes temp files of uploads a killed server left behind (only those idle for
        :data:`runapi_server.storage_routes.PARTIAL_UPLOAD_IDLE_S`, so another process's upload
        in flight stays); worker processes of ``runapi serve --workers N`` pass False (the
        parent cleaned up before starting them). ``database``: a PostgreSQL URL, or ``None``
        for the data dir's own database (SQLite unless the dir recorded a URL). ``storage_url``:
    an ``s3://bucket[/prefix]`` instead of a storage dir (asked for at start: a missing
    bucket is a ``ValueError``).

        ```python
        import uvicorn
        uvicorn.run(create_app(Path("data")), port=8080)
        ```
    """
    state = ServerState.open(
        data_dir,
        public_url,
        limits,
        storage_dir=storage_dir,
        signing_key=signing_key,
        database=database,
        storage_url=storage_url,
    )
    if state.bucket is not None:
        state.bucket.check()
    state.db.read()  # opens the database and brings its schema up to date
    _ = state.secret  # read (or made) now: an unusable storage dir fails at start
    if cleanup:
        storage_routes.remove_partial_uploads(state.store)
    schema = build_schema()
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/graphql", _graphql_endpoint(schema, DocumentCache(state.limits)), methods=["POST"]),
        *filestream.ROUTES,
        *storage_routes.ROUTES,
        *artifact_routes.ROUTES,
        *parquet_export.ROUTES,
        *pages.ROUTES,  # last: its /{entity}/{project}/runs/{run} is a catch-all shape
    ]
    app = Starlette(
        routes=routes, exception_handlers={BadInput: _bad_input}, lifespan=_closes(state)
    )
    # No "try again with a trailing slash" redirects: a signed URL whose name does not
    # match its route is an error, not a 307 to another route.
    app.router.redirect_slashes = False
    app.state.server = state
    return app
