"""The ASGI app: GraphQL at /graphql plus W&B's REST endpoints (file stream, files)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ariadne import graphql_sync, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from runapi_server import filestream, storage_routes
from runapi_server.auth import authenticate
from runapi_server.context import Context
from runapi_server.jsonresponse import WandbJSONResponse, error_response
from runapi_server.resolvers import BINDABLES
from runapi_server.state import ServerState

log = logging.getLogger("runapi_server")

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MAX_GRAPHQL_BODY = 16 * 1024 * 1024
UNAUTHORIZED = "missing or invalid API key: send HTTP Basic auth with user 'api' and your key"


def build_schema() -> GraphQLSchema:
    return make_executable_schema(load_schema_from_path(str(SCHEMA_PATH)), *BINDABLES)


def server_state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


def base_url(request: Request) -> str:
    state = server_state(request)
    return state.public_url or str(request.base_url).rstrip("/")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _graphql_endpoint(schema: GraphQLSchema):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        state = server_state(request)
        user = await run_in_threadpool(authenticate, state.db, request.headers.get("authorization"))
        if user is None:
            return error_response(UNAUTHORIZED, 401)
        body = await request.body()
        if len(body) > MAX_GRAPHQL_BODY:
            return error_response(f"request body over {MAX_GRAPHQL_BODY} bytes", 413)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response("request body is not valid JSON", 400)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return error_response("request body must be a JSON object with a 'query' string", 400)
        context = Context(state=state, user=user, base_url=base_url(request))
        _ok, result = await run_in_threadpool(
            graphql_sync, schema, data, context_value=context, logger=log
        )
        return WandbJSONResponse(result, status_code=200)

    return endpoint


def create_app(data_dir: Path, *, public_url: str | None = None) -> Starlette:
    """The server app on ``data_dir`` (created if missing).

    ```python
    import uvicorn
    uvicorn.run(create_app(Path("data")), port=8080)
    ```
    """
    state = ServerState.open(data_dir, public_url)
    state.db.connect()
    schema = build_schema()
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/graphql", _graphql_endpoint(schema), methods=["POST"]),
        *filestream.ROUTES,
        *storage_routes.ROUTES,
    ]
    app = Starlette(routes=routes)
    app.state.server = state
    return app
