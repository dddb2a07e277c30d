"""Artifact blobs (``artifact_blobs``): the bytes of artifact files, stored once per entity
and MD5, and their uploads (single PUT or multipart).

A blob row exists from ``createArtifactFiles`` on; ``storage`` (a path under the data dir)
is set once its bytes arrived, verified. Rows are :class:`Row`s of every column.

Functions (a :class:`Connection` first): :func:`blob_by_id`, :func:`blob_for`,
:func:`blob_by_upload`, :func:`create_blob`, :func:`open_multipart`,
:func:`stored_path`, :func:`mark_stored`, :func:`free_unreferenced_blobs`.

```python
with db.transaction() as conn:
    blob = blob_for(conn, "alice", md5_b64) or create_blob(conn, "alice", md5_b64, 7, now)
    ...
    freed = free_unreferenced_blobs(conn, "alice")  # unlink them after the commit
```
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from runapi_server.storage.connection import Connection, Row


def blob_by_id(conn: Connection, blob_id: int) -> Row | None:
    return conn.execute("SELECT * FROM artifact_blobs WHERE id = ?", (blob_id,)).first()


def blob_for(conn: Connection, entity: str, md5_b64: str) -> Row | None:
    """The entity's blob of these bytes (base64 MD5), or None."""
    return conn.execute(
        "SELECT * FROM artifact_blobs WHERE entity = ? AND md5 = ?", (entity, md5_b64)
    ).first()


def blob_by_upload(conn: Connection, entity: str, upload_id: str) -> Row | None:
    """The entity's blob with the open multipart upload ``upload_id``, or None."""
    return conn.execute(
        "SELECT * FROM artifact_blobs WHERE entity = ? AND upload_id = ?", (entity, upload_id)
    ).first()


def create_blob(
    conn: Connection, entity: str, md5_b64: str, birth_artifact_id: int, now: str
) -> Row:
    """A new blob row (no bytes yet) first declared by version ``birth_artifact_id``."""
    return conn.execute(
        "INSERT INTO artifact_blobs (entity, md5, birth_artifact_id, created_at)"
        " VALUES (?, ?, ?, ?) RETURNING *",
        (entity, md5_b64, birth_artifact_id, now),
    ).one()


def open_multipart(
    conn: Connection, blob_id: int, upload_id: str, parts: Sequence[Sequence[object]]
) -> None:
    """Record an open multipart upload and its declared ``[[part number, hex md5], ...]``."""
    conn.execute(
        "UPDATE artifact_blobs SET upload_id = ?, upload_parts = ? WHERE id = ?",
        (upload_id, json.dumps([list(part) for part in parts]), blob_id),
    )


def stored_path(conn: Connection, blob_id: int) -> tuple[bool, str | None]:
    """``(exists, storage path or None)`` of the blob, read in the caller's transaction."""
    row = conn.execute("SELECT storage FROM artifact_blobs WHERE id = ?", (blob_id,)).first()
    return (False, None) if row is None else (True, row[0])


def mark_stored(conn: Connection, blob_id: int, storage: str, size: int) -> None:
    """The blob's bytes are at ``storage`` (under the data dir): count the upload and close
    any multipart upload."""
    conn.execute(
        "UPDATE artifact_blobs SET storage = ?, size = ?, uploads = uploads + 1,"
        " upload_id = NULL, upload_parts = NULL WHERE id = ?",
        (storage, size, blob_id),
    )


def free_unreferenced_blobs(conn: Connection, entity: str) -> list[str]:
    """Delete the entity's blob rows no version's file refers to; their ``"id:storage"``.

    Call inside the write transaction; unlink the returned paths after it committed
    (:func:`runapi_server.artifact_store.remove_blob_files`).
    """
    rows = conn.execute(
        "DELETE FROM artifact_blobs WHERE entity = ? AND NOT EXISTS"
        " (SELECT 1 FROM artifact_files WHERE artifact_files.blob_id = artifact_blobs.id)"
        " RETURNING id, storage",
        (entity,),
    ).tuples()
    return [f"{blob_id}:{storage or ''}" for blob_id, storage in rows]
