"""File upload and download over HTTP (URL shapes in :mod:`runapi_server.signing`).

- ``PUT /storage/upload/{entity}/{project}/{run}/{name}?grant=&expires=&signature=``: no
  auth header; the signature grants the upload (checked before the body is read, then
  the run's key). The body is streamed to a temporary file under
  ``<storage_dir>/files/<run_db_id>/``, fsynced, renamed into place under an opaque name, and
  recorded (size, md5, time) in one transaction.
- ``GET /storage/files/{entity}/{project}/{run}/{name}``: the owner's Basic auth, or a
  signed ``?grant=&expires=&signature=`` (``File.directUrl``) without auth.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from runapi_server import runfiles, signing
from runapi_server.auth import UNAUTHORIZED, authenticate
from runapi_server.incoming import Refused, receive_file
from runapi_server.jsonresponse import error_response
from runapi_server.lookup import find_run, run_for_grant
from runapi_server.signing import RunGrant
from runapi_server.state import ServerState
from runapi_server.storage import files as stored_files
from runapi_server.timeutil import now_iso

CHUNK = 1024 * 1024


def _state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


# --------------------------------------------------------------------------- upload


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PARTIAL_UPLOAD_GLOB = "*/.*.tmp"
PARTIAL_UPLOAD_IDLE_S = 3600.0
"""How long an upload temp file must be untouched before a starting server removes it.

Long: other server processes (on this machine or others sharing the storage dir) may
have uploads in flight, and a client may stall for a while without its upload being
dead; a leftover temp file only costs disk space until the next start."""


def remove_partial_uploads(files_dir: Path, idle_s: float = PARTIAL_UPLOAD_IDLE_S) -> int:
    """Delete upload temp files left by a killed server (untouched for `idle_s` seconds).

    An upload in flight writes its temp file as its bytes arrive, so a live one is not
    idle that long; a partial upload was never recorded, so nothing refers to these files.
    """
    cutoff = time.time() - idle_s
    removed = 0
    for path in files_dir.glob(PARTIAL_UPLOAD_GLOB):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _place(tmp: Path, final: Path) -> None:
    """Rename a received (fsynced) upload into place, durably."""
    try:
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def _record(
    state: ServerState, grant: RunGrant, run_db_id: int, name: str, size: int, md5: str, blob: Path
) -> bool:
    """Record the upload; False (and the blob removed) when the run is gone."""
    storage = blob.relative_to(state.storage_dir).as_posix()
    try:
        with state.db.transaction() as conn:
            run = run_for_grant(conn, grant)
            if run is None or run["id"] != run_db_id:
                blob.unlink(missing_ok=True)
                return False
            old = stored_files.record_upload(
                conn,
                run_db_id,
                name,
                size=size,
                md5=md5,
                mimetype=runfiles.mimetype_of(name),
                storage=storage,
                now=now_iso(),
            )
    except BaseException:
        blob.unlink(missing_ok=True)
        raise
    if old and old != storage:
        _remove_blob(state, old)
    return True


def _remove_blob(state: ServerState, storage: str) -> None:
    path = (state.storage_dir / storage).resolve()
    if path.is_relative_to(state.files_dir):
        path.unlink(missing_ok=True)


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
    directory = runfiles.run_dir(state.files_dir, run_db_id)
    blob_name = secrets.token_hex(16)
    tmp = directory / f".{blob_name}.tmp"
    final = directory / blob_name
    try:
        received = await receive_file(request, tmp, limit)
        await run_in_threadpool(_place, tmp, final)
    except Refused as exc:
        return exc.response()
    size, digest = received.size, received.md5
    md5 = base64.b64encode(digest.digest()).decode()
    recorded = await run_in_threadpool(_record, state, grant, run_db_id, name, size, md5, final)
    if not recorded:
        return error_response(signing.RUN_GONE, 403)
    return Response(status_code=200)


# --------------------------------------------------------------------------- download


def _iter_file(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def _open_content(state: ServerState, run_db_id: int, name: str) -> Response:
    conn = state.db.read()
    row = stored_files.find_file(conn, run_db_id, name)
    if row is None:
        return error_response(f"file {name!r} not found", 404)
    media_type = runfiles.mimetype_of(name)
    if row["streamed"]:
        content = stored_files.streamed_content(conn, run_db_id, name)
        return Response(content, media_type=media_type)
    path = (state.storage_dir / row["storage"]).resolve()
    if not path.is_relative_to(state.files_dir):
        return error_response(f"file {name!r} not found", 404)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return error_response(f"file {name!r} not found", 404)
    length = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        _iter_file(handle), media_type=media_type, headers={"content-length": str(length)}
    )


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
