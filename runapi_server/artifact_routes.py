"""Artifact bytes over HTTP: signed uploads and downloads, multipart parts, fallbacks.

- ``PUT /artifact-storage/blob/{id}?expires=&signature=``: a file's bytes; refused (400,
  nothing stored) unless their MD5 is the declared one and their length the declared
  ``Content-Length``.
- ``PUT /artifact-storage/blob-part/{id}/{n}?...``: part ``n`` of a multipart upload; its
  MD5 must be the declared ``hexMD5``, which comes back as the ``ETag``.
- ``PUT /artifact-storage/manifest/{id}?...``: the manifest JSON (checked and parsed).
- ``GET`` of the same blob and manifest URLs (signed, no auth), with HTTP ``Range``.
- ``GET /artifacts/{entity}/{md5 hex}`` and ``GET /artifactsV2/{region}/{entity}/.../{md5
  hex}[/{file name}]``: Basic auth; only the owner's stored bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runapi_server import artifact_store, signing
from runapi_server.artifact_store import blob_key, part_key
from runapi_server.auth import UNAUTHORIZED, authenticate
from runapi_server.errors import BadInput
from runapi_server.incoming import Refused, receive_file
from runapi_server.jsonresponse import error_response
from runapi_server.limits import BodyTooLarge, read_limited
from runapi_server.ranges import ranged_object_response
from runapi_server.state import ServerState
from runapi_server.storage import artifact_blobs, artifact_files
from runapi_server.storage.connection import Row

MD5_HEX_RE = re.compile(r"^[0-9a-f]{32}$")


def _state(request: Request) -> ServerState:
    state = request.app.state.server
    assert isinstance(state, ServerState)
    return state


def _refused(request: Request, method: str, kind: str, number: int, part: int | None) -> str | None:
    query = request.query_params
    return signing.verify_artifact(
        _state(request).secret,
        method,
        kind,
        number,
        part,
        query.get("expires"),
        query.get("signature"),
    )


def _blob(state: ServerState, blob_id: int) -> Row | None:
    return artifact_blobs.blob_by_id(state.db.read(), blob_id)


async def _receive(request: Request, target: Path) -> tuple[str, int] | Response:
    """Stream the body to ``target`` (a temp file); its hex MD5 and size, or a refusal."""
    try:
        received = await receive_file(request, target, _state(request).limits.max_upload_bytes)
    except Refused as exc:
        return exc.response()
    return received.md5.hexdigest(), received.size


def _store_blob(state: ServerState, blob: Row, tmp: Path, size: int) -> bool:
    """Move verified bytes into place and record them; False when the blob is gone."""
    key = blob_key(blob["id"], blob["md5"])
    with state.db.transaction() as conn:
        exists, current = artifact_blobs.stored_path(conn, blob["id"])
        if not exists:
            tmp.unlink(missing_ok=True)
            return False
        if current is None:
            state.store.place(tmp, key)
        else:
            tmp.unlink(missing_ok=True)
        artifact_blobs.mark_stored(conn, blob["id"], key, size)
    return True


async def upload_blob(request: Request) -> Response:
    state = _state(request)
    blob_id = int(request.path_params["blob_id"])
    refused = _refused(request, "PUT", signing.ARTIFACT_BLOB, blob_id, None)
    if refused:
        return error_response(refused, 403)
    blob = await run_in_threadpool(_blob, state, blob_id)
    if blob is None:
        return error_response("the file of this upload URL no longer exists", 404)
    tmp = await run_in_threadpool(state.store.staging, blob_key(blob["id"], blob["md5"]))
    received = await _receive(request, tmp)
    if isinstance(received, Response):
        return received
    hex_md5, size = received
    if hex_md5 != artifact_store.md5_hex(blob["md5"]):
        tmp.unlink(missing_ok=True)
        return error_response(
            f"body MD5 {artifact_store.md5_b64_of_hex(hex_md5)} is not the declared {blob['md5']}",
            400,
        )
    if not await run_in_threadpool(_store_blob, state, blob, tmp, size):
        return error_response("the file of this upload URL no longer exists", 404)
    return Response(status_code=200, headers={"ETag": f'"{hex_md5}"'})


async def upload_part(request: Request) -> Response:
    state = _state(request)
    blob_id, part = int(request.path_params["blob_id"]), int(request.path_params["part"])
    refused = _refused(request, "PUT", signing.ARTIFACT_PART, blob_id, part)
    if refused:
        return error_response(refused, 403)
    blob = await run_in_threadpool(_blob, state, blob_id)
    if blob is None or blob["upload_parts"] is None:
        return error_response("no multipart upload is open for this file", 404)
    declared = dict(json.loads(blob["upload_parts"]))
    if part not in declared:
        return error_response(f"part {part} was not declared", 400)
    key = part_key(blob_id, part)
    tmp = await run_in_threadpool(state.store.staging, key)
    received = await _receive(request, tmp)
    if isinstance(received, Response):
        return received
    hex_md5, _size = received
    if hex_md5 != declared[part]:
        tmp.unlink(missing_ok=True)
        return error_response(f"part {part}: body MD5 {hex_md5} is not the declared one", 400)
    await run_in_threadpool(lambda: state.store.place(tmp, key, durable=False))
    return Response(status_code=200, headers={"ETag": f'"{hex_md5}"'})


def assemble_parts(state: ServerState, blob: Row, count: int) -> None:
    """Join the uploaded parts 1..count, check the whole MD5, store the blob."""
    store = state.store
    keys = [part_key(blob["id"], number) for number in range(1, count + 1)]
    sizes = [store.size(key) for key in keys]
    missing = [str(n) for n, size in enumerate(sizes, start=1) if size is None]
    if missing:
        raise BadInput(f"parts {', '.join(missing)} were never uploaded")
    minimum = state.limits.min_part_bytes
    for number, part_size in enumerate(sizes[:-1], start=1):
        if part_size is not None and part_size < minimum:
            raise BadInput(f"part {number} is smaller than the minimum part size {minimum}")
    tmp = store.staging(blob_key(blob["id"], blob["md5"]))
    digest = hashlib.md5()
    size = 0
    try:
        with tmp.open("wb") as out:
            for number, key in enumerate(keys, start=1):
                chunks = store.open_range(key)
                if chunks is None:
                    raise BadInput(f"parts {number} were never uploaded")
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != artifact_store.md5_hex(blob["md5"]):
        tmp.unlink(missing_ok=True)
        raise BadInput("the joined parts' MD5 is not the file's declared MD5")
    if not _store_blob(state, blob, tmp, size):
        raise BadInput("the file of this upload no longer exists")
    artifact_store.remove_parts(store, blob["id"])


async def upload_manifest(request: Request) -> Response:
    state = _state(request)
    manifest_id = int(request.path_params["manifest_id"])
    refused = _refused(request, "PUT", signing.ARTIFACT_MANIFEST, manifest_id, None)
    if refused:
        return error_response(refused, 403)
    limit = state.limits.max_upload_bytes
    try:
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), limit, "manifest"
        )
    except BodyTooLarge as exc:
        return error_response(str(exc), 413)
    try:
        artifact_store.parse_manifest(body)
    except BadInput as exc:
        return error_response(str(exc), 400)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()

    def record() -> Response:
        with state.db.transaction() as conn:
            row = artifact_files.manifest_with_state(conn, manifest_id)
            if row is None:
                return error_response("the manifest of this upload URL no longer exists", 404)
            if row["state"] != "PENDING":
                return error_response("the artifact is already committed", 409)
            if row["digest"] and row["digest"] != md5:
                return error_response(
                    f"manifest MD5 {md5} is not the declared {row['digest']}", 400
                )
            artifact_files.store_manifest_content(conn, manifest_id, body, md5)
        return Response(status_code=200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    response: Response = await run_in_threadpool(record)
    return response


# --------------------------------------------------------------------------- downloads


def _blob_response(state: ServerState, blob: Row | None, range_header: str | None) -> Response:
    if blob is None or blob["storage"] is None:
        return error_response("file not found", 404)
    return ranged_object_response(state.store, blob["storage"], range_header)


async def download_blob(request: Request) -> Response:
    state = _state(request)
    blob_id = int(request.path_params["blob_id"])
    refused = _refused(request, "GET", signing.ARTIFACT_BLOB, blob_id, None)
    if refused:
        return error_response(refused, 403)
    blob = await run_in_threadpool(_blob, state, blob_id)
    response: Response = await run_in_threadpool(
        _blob_response, state, blob, request.headers.get("range")
    )
    return response


async def download_manifest(request: Request) -> Response:
    state = _state(request)
    manifest_id = int(request.path_params["manifest_id"])
    refused = _refused(request, "GET", signing.ARTIFACT_MANIFEST, manifest_id, None)
    if refused:
        return error_response(refused, 403)
    content = await run_in_threadpool(
        lambda: artifact_files.manifest_content(state.db.read(), manifest_id)
    )
    if content is None:
        return error_response("manifest not found", 404)
    return Response(content, media_type="application/json")


def _fallback(
    state: ServerState, authorization: str | None, segments: list[str], rng: str | None
) -> Response:
    user = authenticate(state.db, authorization)
    if user is None:
        return error_response(UNAUTHORIZED, 401)
    # After the entity: {birth id}/{md5} (V2 and V1 alike), or
    # {project}/{collection}/[{artifact id}/]{birth id}/{md5}/{file name}.
    entity, tail = (segments[0], segments[1:]) if segments else ("", [])
    hex_md5 = None
    if len(tail) == 2:
        hex_md5 = tail[1]
    elif len(tail) >= 5:
        hex_md5 = tail[3] if MD5_HEX_RE.match(tail[3]) else tail[4]
    hex_md5 = hex_md5 if hex_md5 and MD5_HEX_RE.match(hex_md5) else None
    b64 = artifact_store.md5_b64_of_hex(hex_md5) if hex_md5 else None
    if entity != user.entity or b64 is None:
        return error_response("file not found", 404)
    blob = artifact_blobs.blob_for(state.db.read(), entity, b64)
    return _blob_response(state, blob, rng)


async def fallback_v1(request: Request) -> Response:
    segments = [request.path_params["entity"], "-", request.path_params["md5"]]
    return await _fallback_response(request, segments)


async def fallback_v2(request: Request) -> Response:
    # {region}/{entity}/... : the region is ignored (one region here).
    segments = str(request.path_params["rest"]).split("/")
    return await _fallback_response(request, segments[1:])


async def _fallback_response(request: Request, segments: list[Any]) -> Response:
    state = _state(request)
    response: Response = await run_in_threadpool(
        _fallback,
        state,
        request.headers.get("authorization"),
        [str(s) for s in segments],
        request.headers.get("range"),
    )
    return response


ROUTES: list[BaseRoute] = [
    Route("/artifact-storage/blob/{blob_id:int}", upload_blob, methods=["PUT"]),
    Route("/artifact-storage/blob/{blob_id:int}", download_blob, methods=["GET"]),
    Route("/artifact-storage/blob-part/{blob_id:int}/{part:int}", upload_part, methods=["PUT"]),
    Route("/artifact-storage/manifest/{manifest_id:int}", upload_manifest, methods=["PUT"]),
    Route("/artifact-storage/manifest/{manifest_id:int}", download_manifest, methods=["GET"]),
    Route("/artifacts/{entity}/{md5}", fallback_v1, methods=["GET"]),
    Route("/artifactsV2/{rest:path}", fallback_v2, methods=["GET"]),
]
