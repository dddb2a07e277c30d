"""File upload and download over HTTP (URL shapes in :mod:`runapi_server.signing`).

- ``PUT /storage/upload/{entity}/{project}/{run}/{name}?grant=&expires=&signature=``: no
  auth header; the signature grants the upload (checked before the body is read, then
  the run's key). The body is streamed to a staging file of the object store, placed
  under an opaque key ``files/<run_db_id>/<random>`` (see :mod:`runapi_server.objects`), and
  recorded (size, md5, time) in one transaction.
- ``GET /storage/files/{entity}/{project}/{run}/{name}``: the owner's Basic auth, or a
  signed ``?grant=&expires=&signature=`` (``File.directUrl``) without auth.
"""

from __future__ import annotations

import base64

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runapi_server import bucket_files, runfiles, signing
from runapi_server.auth import UNAUTHORIZED, authenticate
from runapi_server.incoming import Refused, receive_file
from runapi_server.jsonresponse import error_response
from runapi_server.lookup import find_run, run_for_grant
from runapi_server.objects import ObjectStore, discard
from runapi_server.ranges import object_response
from runapi_server.signing import RunGrant
from runapi_server.state import ServerState
from runapi_server.storage import files as stored_files
from runapi_server.timeutil import now_iso


def _state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


# --------------------------------------------------------------------------- upload


PARTIAL_UPLOAD_IDLE_S = 3600.0
"""How long an upload temp file must be untouched before a starting server removes it.

Long: other server processes (on this machine or others sharing the storage dir) may
have uploads in flight, and a client may stall for a while without its upload being
dead; a leftover temp file only costs disk space until the next start."""


def remove_partial_uploads(store: ObjectStore, idle_s: float = PARTIAL_UPLOAD_IDLE_S) -> int:
    """Delete upload temp files left by a killed server (untouched for `idle_s` seconds).

    An upload in flight writes its temp file as its bytes arrive, so a live one is not
    idle that long; a partial upload was never recorded, so nothing refers to these files.
    """
    return store.remove_stale_staging(idle_s)


def _record(
    state: ServerState, grant: RunGrant, run_db_id: int, name: str, size: int, md5: str, key: str
) -> bool:
    """Record the upload; False (and the object removed) when the run is gone."""
    try:
        with state.db.transaction() as conn:
            run = run_for_grant(conn, grant)
            if run is None or run["id"] != run_db_id:
                state.store.delete(key)
                return False
            old = stored_files.record_upload(
                conn,
                run_db_id,
                name,
                size=size,
                md5=md5,
                mimetype=runfiles.mimetype_of(name),
                storage=key,
                now=now_iso(),
            )
    except BaseException:
        state.store.delete(key)
        raise
    if old and old != key:
        discard(state.store, old)
    return True


def _params(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in request.path_params.items()}


async def upload(request: Request) -> Response:
    state = _state(request)
    params = _params(request)
    name = params["name"]
    query = dict(request.query_params)
    grant = RunGrant.from_request(params, query)
    refused = signing.check_run_url(state.secret, signing.UPLOAD, grant, name, query)
    if refused:
        return error_response(refused, 403)
    problem = runfiles.check_file_name(name)
    if problem:
        return error_response(problem, 400)
    limit = state.limits.max_upload_bytes
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return error_response(f"upload is over the limit of {limit} bytes", 413)
    run = await run_in_threadpool(lambda: run_for_grant(state.db.read(), grant))
    if run is None:
        return error_response(signing.RUN_GONE, 403)
    run_db_id: int = run["id"]
    key = runfiles.new_file_key(run_db_id)
    tmp = await run_in_threadpool(state.store.staging, key)
    try:
        received = await receive_file(request, tmp, limit)
        await run_in_threadpool(state.store.place, tmp, key)
    except Refused as exc:
        return exc.response()
    size, digest = received.size, received.md5
    md5 = base64.b64encode(digest.digest()).decode()
    recorded = await run_in_threadpool(_record, state, grant, run_db_id, name, size, md5, key)
    if not recorded:
        return error_response(signing.RUN_GONE, 403)
    return Response(status_code=200)


# --------------------------------------------------------------------------- download


def _open_content(state: ServerState, run_db_id: int, name: str) -> Response:
    bucket_files.settle(state, run_db_id)
    conn = state.db.read()
    row = stored_files.find_file(conn, run_db_id, name)
    if row is None:
        return error_response(f"file {name!r} not found", 404)
    media_type = runfiles.mimetype_of(name)
    if row["streamed"]:
        content = stored_files.streamed_content(conn, run_db_id, name)
        return Response(content, media_type=media_type)
    return object_response(state.store, row["storage"], media_type, f"file {name!r} not found")


def _download(
    state: ServerState, authorization: str | None, params: dict[str, str], query: dict[str, str]
) -> Response:
    entity, project, run_name = params["entity"], params["project"], params["run"]
    name = params["name"]
    if "signature" in query or "expires" in query or "grant" in query:
        grant = RunGrant.from_request(params, query)
        refused = signing.check_run_url(state.secret, signing.DOWNLOAD, grant, name, query)
        if refused:
            return error_response(refused, 403)
        run = run_for_grant(state.db.read(), grant)
        if run is None:
            return error_response(signing.RUN_GONE, 403)
    else:
        user = authenticate(state.db, authorization)
        if user is None:
            return error_response(UNAUTHORIZED, 401)
        run = find_run(state.db.read(), user, entity, project, run_name)
        if run is None:
            return error_response(f"run {entity}/{project}/{run_name} not found", 404)
    return _open_content(state, run["id"], name)


async def download(request: Request) -> Response:
    state = _state(request)
    params = _params(request)
    query = dict(request.query_params)
    authorization = request.headers.get("authorization")
    response: Response = await run_in_threadpool(_download, state, authorization, params, query)
    return response


ROUTES: list[BaseRoute] = [
    Route("/storage/upload/{entity}/{project}/{run}/{name:path}", upload, methods=["PUT"]),
    Route("/storage/files/{entity}/{project}/{run}/{name:path}", download, methods=["GET"]),
]
