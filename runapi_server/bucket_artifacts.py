"""Artifact bytes in a bucket (``runapi serve --storage s3://...``): pre-signed URLs for
blobs, parts and manifests, and what ``completeMultipartUploadArtifact`` and
``commitArtifact`` check, since the bytes never pass through the server.

- ``createArtifactFiles``: a blob's upload URL is the bucket's pre-signed ``PUT`` of its
  key with its ``Content-MD5`` signed (the client sends it, from ``uploadHeaders``), so
  the bucket refuses other bytes. A multipart file opens an S3 multipart upload
  (``CreateMultipartUpload``) and gets pre-signed ``UploadPart`` URLs.
- ``completeMultipartUploadArtifact``: ``CompleteMultipartUpload`` with the client's
  ETags (each the hex MD5 of a part, as declared), then the blob is stored.
- The manifest is ``PUT`` to its own object (``files/artifacts/manifests/<id>``);
  ``commitArtifact`` reads it (:func:`settle_commit`), checks it as the server's own
  route does, keeps it in the database and deletes the object; then each blob the
  manifest names and the server has not seen is asked for (``HEAD``): it is stored when
  its size is the manifest's and its ETag the declared MD5, refused otherwise.
- Downloads (``directUrl``) of stored blobs are pre-signed ``GET``s.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from runapi_server import artifact_store, signing
from runapi_server.artifact_store import blob_key
from runapi_server.auth import AuthUser
from runapi_server.errors import BadInput
from runapi_server.objects import key_of
from runapi_server.objects.s3 import S3Store
from runapi_server.state import ServerState
from runapi_server.storage import artifact_blobs, artifact_files
from runapi_server.storage.connection import Row

MANIFESTS_DIR = "manifests"


def manifest_key(manifest_id: int) -> str:
    return key_of(artifact_store.ARTIFACTS_DIR, MANIFESTS_DIR, manifest_id)


def blob_upload_url(bucket: S3Store, blob_id: int, md5_b64: str) -> str:
    """Pre-signed PUT of the blob's object; ``Content-MD5`` is part of the signature."""
    return bucket.presigned_put(blob_key(blob_id, md5_b64), signing.UPLOAD_TTL_S, md5_b64)


def manifest_upload_url(bucket: S3Store, manifest_id: int) -> str:
    return bucket.presigned_put(manifest_key(manifest_id), signing.UPLOAD_TTL_S)


def download_url(bucket: S3Store, storage: str) -> str:
    return bucket.presigned_get(storage, signing.DOWNLOAD_TTL_S)


def open_multipart(bucket: S3Store, blob: Row, numbers: Sequence[int]) -> dict[str, object]:
    """Open an S3 multipart upload of the blob (or reuse the one it has open): the
    ``uploadMultipartUrls`` of its file."""
    key = blob_key(blob["id"], blob["md5"])
    upload_id = blob["upload_id"] or bucket.create_multipart(key)
    return {
        "uploadID": upload_id,
        "uploadUrlParts": [
            {
                "partNumber": number,
                "uploadUrl": bucket.presigned_part(key, upload_id, number, signing.UPLOAD_TTL_S),
            }
            for number in numbers
        ],
    }


def complete_multipart(
    state: ServerState, bucket: S3Store, blob: Row, parts: Sequence[tuple[int, str]]
) -> None:
    """Join the uploaded parts in the bucket and store the blob; :class:`BadInput` when the
    bucket refuses (a part missing, an ETag not the part's)."""
    from botocore.exceptions import ClientError

    key = blob_key(blob["id"], blob["md5"])
    try:
        bucket.complete_multipart(key, blob["upload_id"], parts)
    except ClientError as exc:
        raise BadInput(f"the bucket refused to join the parts: {exc}") from None
    head = bucket.head(key)
    if head is None:
        raise BadInput("the joined file is not in the bucket")
    minimum = state.limits.min_part_bytes
    if len(parts) > 1 and head.size < minimum * (len(parts) - 1):
        bucket.delete(key)
        raise BadInput(f"parts are smaller than the minimum part size {minimum}")
    with state.db.transaction() as conn:
        exists, _current = artifact_blobs.stored_path(conn, blob["id"])
        if not exists:
            bucket.delete(key)
            raise BadInput("the file of this upload no longer exists")
        artifact_blobs.mark_stored(conn, blob["id"], key, head.size)


def settle_commit(state: ServerState, bucket: S3Store, user: AuthUser, artifact: Row) -> None:
    """Before ``commitArtifact``'s checks: take the manifest from its object and store the
    blobs it names that arrived in the bucket (see the module docstring). Leaves what is
    missing to the commit's own errors; raises :class:`BadInput` for bytes that are not
    what the manifest says."""
    conn = state.db.read()
    manifest = artifact_files.manifest_of(conn, artifact["id"])
    if manifest is None:
        return
    content = manifest["content"]
    if content is None:
        content = _take_manifest(state, bucket, manifest)
        if content is None:
            return
    for entry in artifact_store.parse_manifest(bytes(content)):
        if entry.ref is not None:
            continue
        blob = artifact_blobs.blob_for(state.db.read(), user.entity, entry.digest)
        if blob is None or blob["storage"] is not None:
            continue
        key = blob_key(blob["id"], blob["md5"])
        head = bucket.head(key)
        if head is None:
            continue
        limit = state.limits.max_upload_bytes
        if head.size > limit and "-" not in head.etag:  # one PUT over the upload limit
            bucket.delete(key)
            raise BadInput(f"file {entry.path!r}: upload is over the limit of {limit} bytes")
        if head.size != entry.size:
            raise BadInput(
                f"file {entry.path!r}: the manifest says {entry.size} bytes,"
                f" {head.size} were uploaded"
            )
        if head.etag != artifact_store.md5_hex(blob["md5"]) and "-" not in head.etag:
            bucket.delete(key)
            raise BadInput(f"file {entry.path!r}: the uploaded bytes are not {entry.digest}")
        with state.db.transaction() as write:
            exists, current = artifact_blobs.stored_path(write, blob["id"])
            if exists and current is None:
                artifact_blobs.mark_stored(write, blob["id"], key, head.size)


def _take_manifest(state: ServerState, bucket: S3Store, manifest: Row) -> bytes | None:
    key = manifest_key(manifest["id"])
    size = bucket.size(key)
    if size is None:
        return None
    if size > state.limits.max_upload_bytes:
        bucket.delete(key)
        raise BadInput(f"the manifest is over the limit of {state.limits.max_upload_bytes} bytes")
    body = bucket.read_bytes(key)
    if body is None:
        return None
    artifact_store.parse_manifest(body)  # BadInput when malformed
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    if manifest["digest"] and manifest["digest"] != md5:
        raise BadInput(f"manifest MD5 {md5} is not the declared {manifest['digest']}")
    with state.db.transaction() as conn:
        artifact_files.store_manifest_content(conn, manifest["id"], body, md5)
    bucket.delete(key)
    return body
