"""File upload and download over HTTP (URL shapes in :mod:`runapi_server.signing`).

- ``PUT /storage/upload/{run_db_id}/{name}?expires=&signature=``: no auth header; the
  signature grants the upload. The body is streamed to a temporary file under
  ``<data_dir>/files/<run_db_id>/``, fsynced, renamed into place under an opaque name, and
  recorded (size, md5, time) in one transaction.
- ``GET /storage/files/{entity}/{project}/{run}/{name}``: the owner's Basic auth, or a
  signed ``?expires=&signature=`` (``File.directUrl``) without auth.
"""

from __future__ import annotations

import base64
import hashlib
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
from runapi_server.jsonresponse import error_response
from runapi_server.limits import BodyTooLarge
from runapi_server.lookup import RUN_SELECT, find_run, run_by_id
from runapi_server.state import ServerState
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


def remove_partial_uploads(files_dir: Path, idle_s: float = 60.0) -> int:
    """Delete upload temp files left by a killed server (untouched for `idle_s` seconds).

    An upload in flight writes its temp file continually, so a live one is never idle that
    long; a partial upload was never recorded, so nothing refers to these files.
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


def _finish_blob(handle: BinaryIO, tmp: Path, final: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _record(state: ServerState, run_db_id: int, name: str, size: int, md5: str, blob: Path) -> bool:
    """Record the upload; False (and the blob removed) when the run is gone."""
    storage = blob.relative_to(state.data_dir).as_posix()
    try:
        with state.db.transaction() as conn:
            if run_by_id(conn, run_db_id) is None:
                blob.unlink(missing_ok=True)
                return False
            old = runfiles.record_upload(
                conn, run_db_id, name, size=size, md5=md5, storage=storage, now=now_iso()
            )
    except BaseException:
        blob.unlink(missing_ok=True)
        raise
    if old and old != storage:
        _remove_blob(state, old)
    return True


def _remove_blob(state: ServerState, storage: str) -> None:
    path = (state.data_dir / storage).resolve()
    if path.is_relative_to(state.files_dir):
        path.unlink(missing_ok=True)


async def upload(request: Request) -> Response:
    state = _state(request)
    run_db_id = int(request.path_params["run_db_id"])
    name = str(request.path_params["name"])
    refused = signing.verify(
        state.secret,
        "PUT",
        run_db_id,
        name,
        request.query_params.get("expires"),
        request.query_params.get("signature"),
    )
    if refused:
        return error_response(refused, 403)
    problem = runfiles.check_file_name(name)
    if problem:
        return error_response(problem, 400)
    limit = state.limits.max_upload_bytes
    too_large = error_response(f"upload is over the limit of {limit} bytes", 413)
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return too_large
    run = await run_in_threadpool(lambda: run_by_id(state.db.read(), run_db_id))
    if run is None:
        return error_response("the run of this upload URL no longer exists", 404)
    directory = runfiles.run_dir(state.files_dir, run_db_id)
    await run_in_threadpool(directory.mkdir, parents=True, exist_ok=True)
    blob_name = secrets.token_hex(16)
    tmp = directory / f".{blob_name}.tmp"
    final = directory / blob_name
    digest = hashlib.md5()
    size = 0
    handle = await run_in_threadpool(tmp.open, "wb")
    try:
        async for chunk in request.stream():
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge("upload", limit)
                digest.update(chunk)
                await run_in_threadpool(handle.write, chunk)
        await run_in_threadpool(_finish_blob, handle, tmp, final)
    except BodyTooLarge:
        handle.close()
        tmp.unlink(missing_ok=True)
        return too_large
    except BaseException:
        handle.close()
        tmp.unlink(missing_ok=True)
        raise
    md5 = base64.b64encode(digest.digest()).decode()
    recorded = await run_in_threadpool(_record, state, run_db_id, name, size, md5, final)
    if not recorded:
        return error_response("the run of this upload URL no longer exists", 404)
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
    row = runfiles.find_file(conn, run_db_id, name)
    if row is None:
        return error_response(f"file {name!r} not found", 404)
    media_type = runfiles.mimetype_of(name)
    if row["streamed"]:
        content = runfiles.streamed_content(conn, run_db_id, name)
        return Response(content, media_type=media_type)
    path = (state.data_dir / row["storage"]).resolve()
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
    if "signature" in query or "expires" in query:
        run = (
            state.db.read()
            .execute(
                RUN_SELECT + " WHERE projects.entity = ? AND projects.name = ? AND runs.name = ?",
                (entity, project, run_name),
            )
            .fetchone()
        )
        if run is None:
            return error_response(f"run {entity}/{project}/{run_name} not found", 404)
        refused = signing.verify(
            state.secret, "GET", run["id"], name, query.get("expires"), query.get("signature")
        )
        if refused:
            return error_response(refused, 403)
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
    params = {key: str(value) for key, value in request.path_params.items()}
    query = dict(request.query_params)
    authorization = request.headers.get("authorization")
    response: Response = await run_in_threadpool(_download, state, authorization, params, query)
    return response


ROUTES: list[BaseRoute] = [
    Route("/storage/upload/{run_db_id:int}/{name:path}", upload, methods=["PUT"]),
    Route("/storage/files/{entity}/{project}/{run}/{name:path}", download, methods=["GET"]),
]
