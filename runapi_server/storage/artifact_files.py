"""The contents of artifact versions: their files (``artifact_files``) and manifest records
(``artifact_manifests``).

A version's files are declared by ``createArtifactFiles`` (:func:`declare_file`), then
replaced by its manifest's entries at commit (:func:`replace_files`). File rows carry their
blob's ``storage`` and ``blob_size`` too. One manifest record per version; its ``content``
is the uploaded manifest JSON (None until uploaded).

Functions (a :class:`Connection` first): :func:`files_of`, :func:`file_of`,
:func:`declare_file`, :func:`replace_files`, :func:`manifest_of`,
:func:`manifest_with_state`, :func:`manifest_content`, :func:`create_manifest`,
:func:`update_manifest`, :func:`store_manifest_content`.

```python
with db.transaction() as conn:
    declare_file(conn, artifact_id, "data/x.csv", md5_b64, blob_id, birth_artifact_id)
files_of(db.read(), artifact_id)  # -> [Row(name="data/x.csv", storage=..., ...)]
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runapi_server.storage.connection import Connection, Row

_FILES_SELECT = (
    "SELECT artifact_files.*, artifact_blobs.storage AS storage, artifact_blobs.size AS blob_size"
    " FROM artifact_files LEFT JOIN artifact_blobs ON artifact_blobs.id = artifact_files.blob_id"
)


@dataclass(frozen=True)
class FileEntry:
    """One committed file of a version (a manifest entry)."""

    name: str
    digest: str
    size: int
    blob_id: int | None  # None for a reference entry
    birth_artifact_id: int | None
    ref: str | None
    extra: str | None  # JSON text


def files_of(conn: Connection, artifact_id: int) -> list[Row]:
    """The version's files by name (code point order, sorted here: PostgreSQL would order
    text by its collation)."""
    rows = conn.execute(_FILES_SELECT + " WHERE artifact_id = ?", (artifact_id,)).all()
    return sorted(rows, key=lambda row: str(row["name"]))


def file_of(conn: Connection, artifact_id: int, name: str) -> Row:
    """The version's file ``name`` (``LookupError`` when there is none)."""
    return conn.execute(
        _FILES_SELECT + " WHERE artifact_id = ? AND name = ?", (artifact_id, name)
    ).one()


def declare_file(
    conn: Connection, artifact_id: int, name: str, md5_b64: str, blob_id: int, birth: int
) -> None:
    """Declare (or re-declare) a file of a pending version."""
    conn.execute(
        "INSERT INTO artifact_files (artifact_id, name, digest, blob_id, birth_artifact_id)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (artifact_id, name) DO UPDATE SET"
        " digest = excluded.digest, blob_id = excluded.blob_id,"
        " birth_artifact_id = excluded.birth_artifact_id",
        (artifact_id, name, md5_b64, blob_id, birth),
    )


def replace_files(conn: Connection, artifact_id: int, entries: Iterable[FileEntry]) -> None:
    """The version's files become exactly ``entries``."""
    conn.execute("DELETE FROM artifact_files WHERE artifact_id = ?", (artifact_id,))
    conn.executemany(
        "INSERT INTO artifact_files (artifact_id, name, digest, size, blob_id,"
        " birth_artifact_id, ref, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (artifact_id, e.name, e.digest, e.size, e.blob_id, e.birth_artifact_id, e.ref, e.extra)
            for e in entries
        ],
    )


# --------------------------------------------------------------------------- manifests


def manifest_of(conn: Connection, artifact_id: int) -> Row | None:
    """The version's manifest record (every column), or None."""
    return conn.execute(
        "SELECT * FROM artifact_manifests WHERE artifact_id = ?", (artifact_id,)
    ).first()


def manifest_artifact_id(conn: Connection, manifest_id: int) -> int | None:
    """The version a manifest record belongs to, or None."""
    row = conn.execute(
        "SELECT artifact_id FROM artifact_manifests WHERE id = ?", (manifest_id,)
    ).first()
    return None if row is None else int(row[0])


def manifest_with_state(conn: Connection, manifest_id: int) -> Row | None:
    """``digest`` of the manifest record and ``state`` of its version, or None."""
    return conn.execute(
        "SELECT artifact_manifests.digest, artifacts.state FROM artifact_manifests"
        " JOIN artifacts ON artifacts.id = artifact_manifests.artifact_id"
        " WHERE artifact_manifests.id = ?",
        (manifest_id,),
    ).first()


def manifest_content(conn: Connection, manifest_id: int) -> bytes | None:
    """The uploaded manifest JSON, None when missing or not uploaded."""
    row = conn.execute(
        "SELECT content FROM artifact_manifests WHERE id = ?", (manifest_id,)
    ).first()
    return None if row is None or row[0] is None else bytes(row[0])


def create_manifest(
    conn: Connection,
    artifact_id: int,
    *,
    name: str,
    kind: str,
    digest: str,
    base_artifact_id: int | None,
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO artifact_manifests (artifact_id, name, type, digest, base_artifact_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (artifact_id, name, kind, digest, base_artifact_id, now),
    )


def update_manifest(
    conn: Connection,
    manifest_id: int,
    *,
    name: str,
    kind: str,
    digest: str,
    base_artifact_id: int | None,
    content: bytes | None,
) -> None:
    conn.execute(
        "UPDATE artifact_manifests SET name = ?, type = ?, digest = ?, base_artifact_id = ?,"
        " content = ? WHERE id = ?",
        (name, kind, digest, base_artifact_id, content, manifest_id),
    )


def store_manifest_content(conn: Connection, manifest_id: int, content: bytes, md5: str) -> None:
    """The uploaded manifest JSON and its base64 MD5."""
    conn.execute(
        "UPDATE artifact_manifests SET content = ?, digest = ? WHERE id = ?",
        (content, md5, manifest_id),
    )
