"""Run files in a bucket (``runapi serve --storage s3://...``): pre-signed URLs, and
listing an upload once its object exists.

``createRunFiles`` hands out the bucket's pre-signed ``PUT`` of a new opaque key
(``files/<run db id>/<random>``) and records it as a *pending upload*; the bytes go
straight to the bucket, so the server does not see the upload end. Pending uploads are
settled lazily: any read of the run's files (listing, count, ``createRunFiles``, a
download) first asks the bucket (``HEAD``) for each pending key, and an object that is
there is listed with its size and MD5 (the ETag of an object put in one piece), replacing
the file of that name (whose old object is deleted). A pending upload whose URL has
expired with no object is forgotten. An object appears in a bucket whole, so a file is
never listed half-written; one over ``max_upload_bytes`` is deleted, not listed.

Downloads (``File.directUrl``) of uploaded files are the bucket's pre-signed ``GET``s;
streamed files (lines in the database) keep the server's own signed URL.

```python
url = upload_url(state, run_row, "model.pt")  # pre-signed PUT; pending until settled
settle(state, run_row["id"])                  # list what arrived
```
"""

from __future__ import annotations

import base64
import hashlib
import re
import time

from runapi_server import runfiles, signing
from runapi_server.objects import discard
from runapi_server.objects.s3 import S3Store
from runapi_server.state import ServerState
from runapi_server.storage import files as stored_files
from runapi_server.storage.connection import Row
from runapi_server.timeutil import now_iso

_HEX_MD5 = re.compile(r"[0-9a-f]{32}")
EXPIRY_MARGIN_S = 300
"""A pending upload is forgotten this long after its URL expired (clock skew)."""


def upload_url(state: ServerState, run: Row, name: str) -> str:
    """A pre-signed PUT of a new object for the run's file ``name``, recorded as pending.
    Only with a bucket (``state.bucket``)."""
    bucket = _bucket(state)
    key = runfiles.new_file_key(run["id"])
    with state.db.transaction() as conn:
        stored_files.add_pending_upload(conn, run["id"], name, key, int(time.time()))
    return bucket.presigned_put(key, signing.UPLOAD_TTL_S)


def download_url(state: ServerState, storage: str) -> str:
    """A pre-signed GET of an uploaded file's object."""
    return _bucket(state).presigned_get(storage, signing.DOWNLOAD_TTL_S)


def settle(state: ServerState, run_db_id: int) -> None:
    """List the run's pending uploads whose objects arrived (see the module docstring);
    nothing without a bucket or pending uploads."""
    bucket = state.bucket
    if bucket is None:
        return
    pending = stored_files.pending_uploads(state.db.read(), run_db_id)
    now = time.time()
    for row in pending:
        head = bucket.head(row["storage"])
        if head is None:
            if now - row["created_s"] > signing.UPLOAD_TTL_S + EXPIRY_MARGIN_S:
                with state.db.transaction() as conn:
                    stored_files.drop_pending_upload(conn, row["id"])
            continue
        _settle_one(state, bucket, run_db_id, row, head.size, head.etag)


def _settle_one(
    state: ServerState, bucket: S3Store, run_db_id: int, row: Row, size: int, etag: str
) -> None:
    key: str = row["storage"]
    too_large = size > state.limits.max_upload_bytes
    md5 = None if too_large else _md5(bucket, key, etag)
    old = None
    with state.db.transaction() as conn:
        if not stored_files.drop_pending_upload(conn, row["id"]):
            return  # another server settled it
        if md5 is not None:
            old = stored_files.record_upload(
                conn,
                run_db_id,
                row["name"],
                size=size,
                md5=md5,
                mimetype=runfiles.mimetype_of(row["name"]),
                storage=key,
                now=now_iso(),
            )
    if md5 is None:
        bucket.delete(key)
    elif old and old != key:
        discard(bucket, old)


def _md5(bucket: S3Store, key: str, etag: str) -> str | None:
    """The base64 MD5 of the object: its ETag when that is one (an object put in one
    piece), else computed from its bytes; None when it vanished meanwhile."""
    if _HEX_MD5.fullmatch(etag):
        return base64.b64encode(bytes.fromhex(etag)).decode()
    chunks = bucket.open_range(key)
    if chunks is None:
        return None
    digest = hashlib.md5()
    for chunk in chunks:
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _bucket(state: ServerState) -> S3Store:
    bucket = state.bucket
    if bucket is None:
        raise RuntimeError("no bucket: the storage is a directory")
    return bucket
