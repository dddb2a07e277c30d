"""Artifact collections and versions: ``artifact_sequences``, ``artifacts``,
``artifact_aliases``, ``artifact_tags`` and ``artifact_usages`` (files, manifests and
blobs are in :mod:`runapi_server.storage.artifact_files` and
:mod:`runapi_server.storage.artifact_blobs`).

A version row (:func:`artifact_by_id` and friends) has every ``artifacts`` column plus
``sequence_name``, ``type_name``, ``project_id``, ``entity`` and ``project_name``; a
collection row (:func:`sequence_by_id`) every ``artifact_sequences`` column, plus
``entity`` from :func:`find_sequence` / :func:`sequences_of_project`.

Functions (a :class:`Connection` first): versions :func:`artifact_by_id`,
:func:`artifact_by_version`, :func:`artifact_by_alias`, :func:`artifact_by_client_id`,
:func:`artifact_by_digest`, :func:`committed_versions`, :func:`newest_committed_id`,
:func:`created_by_run`, :func:`used_by_run`, :func:`create_version`,
:func:`next_version_index`, :func:`touch_version`, :func:`set_pending_aliases`,
:func:`commit_version`, :func:`update_version`; collections :func:`sequence_by_id`,
:func:`find_sequence`, :func:`sequences_of_project`, :func:`sequence_for_write`,
:func:`create_sequence`, :func:`project_types`; aliases and tags :func:`version_aliases`,
:func:`sequence_aliases`, :func:`set_alias`, :func:`keep_only_aliases`,
:func:`version_tags`, :func:`add_tags`, :func:`remove_tags`; usages :func:`usage_names`,
:func:`record_usage`, :func:`runs_using`.

```python
with db.transaction() as conn:
    sequence_id = create_sequence(conn, project_id, "mnist", "dataset", now)
    version_id = create_version(conn, NewVersion(sequence_id, 0, digest, ...))
    set_alias(conn, sequence_id, version_id, "latest")
artifact_by_alias(db.read(), project_id, "mnist", "latest")  # -> Row(id=version_id, ...)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import Any, Final

from runapi_server.storage.connection import Connection, Row
from runapi_server.storage.runs import RUN_SELECT

_VERSION_SELECT: Final = (
    "SELECT artifacts.*, artifact_sequences.name AS sequence_name,"
    " artifact_sequences.type_name AS type_name, artifact_sequences.project_id AS project_id,"
    " projects.entity AS entity, projects.name AS project_name"
    " FROM artifacts JOIN artifact_sequences ON artifact_sequences.id = artifacts.sequence_id"
    " JOIN projects ON projects.id = artifact_sequences.project_id"
)
_SEQUENCE_SELECT: Final = (
    "SELECT artifact_sequences.*, projects.entity AS entity FROM artifact_sequences"
    " JOIN projects ON projects.id = artifact_sequences.project_id"
)
# The columns of a run as the runs lookups (runapi_server.lookup) give them.
UPDATABLE: Final = frozenset({"description", "metadata", "ttl_seconds"})


# --------------------------------------------------------------------------- versions


def artifact_by_id(conn: Connection, artifact_id: int) -> Row | None:
    return conn.execute(_VERSION_SELECT + " WHERE artifacts.id = ?", (artifact_id,)).first()


def artifact_by_version(
    conn: Connection, project_id: int, sequence: str, version_index: int
) -> Row | None:
    """Version ``v<version_index>`` of the project's collection ``sequence``."""
    return conn.execute(
        _VERSION_SELECT + " WHERE artifact_sequences.project_id = ?"
        " AND artifact_sequences.name = ? AND artifacts.version_index = ?",
        (project_id, sequence, version_index),
    ).first()


def artifact_by_alias(conn: Connection, project_id: int, sequence: str, alias: str) -> Row | None:
    """The version of the project's collection ``sequence`` that ``alias`` names."""
    return conn.execute(
        _VERSION_SELECT + " WHERE artifact_sequences.project_id = ?"
        " AND artifact_sequences.name = ? AND artifacts.id = (SELECT artifact_id"
        " FROM artifact_aliases WHERE sequence_id = artifact_sequences.id AND alias = ?)",
        (project_id, sequence, alias),
    ).first()


def artifact_by_client_id(conn: Connection, client_id: str, entity: str) -> Row | None:
    return conn.execute(
        _VERSION_SELECT + " WHERE artifacts.client_id = ? AND projects.entity = ?",
        (client_id, entity),
    ).first()


def artifact_by_digest(conn: Connection, sequence_id: int, digest: str) -> Row | None:
    """``id``, ``state`` and ``aliases_pending`` of the collection's version with ``digest``."""
    return conn.execute(
        "SELECT id, state, aliases_pending FROM artifacts WHERE sequence_id = ? AND digest = ?",
        (sequence_id, digest),
    ).first()


def committed_versions(conn: Connection, sequence_id: int) -> list[Row]:
    """The collection's committed versions, newest first."""
    return conn.execute(
        _VERSION_SELECT + " WHERE artifacts.sequence_id = ? AND artifacts.state = 'COMMITTED'"
        " ORDER BY artifacts.version_index DESC",
        (sequence_id,),
    ).all()


def newest_committed_id(conn: Connection, sequence_id: int) -> int | None:
    row = conn.execute(
        "SELECT id FROM artifacts WHERE sequence_id = ? AND state = 'COMMITTED'"
        " ORDER BY version_index DESC LIMIT 1",
        (sequence_id,),
    ).first()
    return None if row is None else int(row[0])


def created_by_run(conn: Connection, run_id: int) -> list[Row]:
    """The committed versions a run logged, oldest first."""
    return conn.execute(
        _VERSION_SELECT + " WHERE artifacts.created_by_run_id = ?"
        " AND artifacts.state = 'COMMITTED' ORDER BY artifacts.id",
        (run_id,),
    ).all()


def used_by_run(conn: Connection, run_id: int) -> list[Row]:
    """The versions a run used, in the order it first used them, with ``used_as`` (JSON)."""
    return conn.execute(
        _VERSION_SELECT.replace("SELECT ", "SELECT artifact_usages.used_as AS used_as, ", 1)
        + " JOIN artifact_usages ON artifact_usages.artifact_id = artifacts.id"
        " WHERE artifact_usages.run_id = ?"
        " ORDER BY artifact_usages.created_at, artifact_usages.artifact_id",
        (run_id,),
    ).all()


@dataclass(frozen=True)
class NewVersion:
    """A new PENDING version's columns."""

    sequence_id: int
    version_index: int
    digest: str
    description: str | None
    metadata: str | None  # JSON object text
    history_step: int | None
    ttl_seconds: int
    created_by_run_id: int | None
    digest_algorithm: str
    client_id: str | None
    aliases_pending: str  # JSON list
    created_at: str


def next_version_index(conn: Connection, sequence_id: int) -> int:
    """Take the collection's next version index (never reused)."""
    (index,) = conn.execute(
        "UPDATE artifact_sequences SET next_version = next_version + 1 WHERE id = ?"
        " RETURNING next_version - 1",
        (sequence_id,),
    ).one()
    return int(index)


def create_version(conn: Connection, new: NewVersion) -> int:
    """Insert a PENDING version; its id."""
    row = conn.execute(
        "INSERT INTO artifacts (sequence_id, version_index, digest, description, metadata,"
        " history_step, ttl_seconds, created_by_run_id, digest_algorithm, client_id,"
        " aliases_pending, created_at, state, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?) RETURNING id",
        (*astuple(new), new.created_at),
    ).one()
    return int(row[0])


def touch_version(conn: Connection, artifact_id: int, now: str) -> None:
    conn.execute("UPDATE artifacts SET updated_at = ? WHERE id = ?", (now, artifact_id))


def set_pending_aliases(conn: Connection, artifact_id: int, aliases: str, now: str | None) -> None:
    """The aliases (JSON list) a pending version takes at commit; ``now`` also touches it."""
    if now is None:
        conn.execute(
            "UPDATE artifacts SET aliases_pending = ? WHERE id = ?", (aliases, artifact_id)
        )
    else:
        conn.execute(
            "UPDATE artifacts SET updated_at = ?, aliases_pending = ? WHERE id = ?",
            (now, aliases, artifact_id),
        )


def commit_version(
    conn: Connection, artifact_id: int, size: int, file_count: int, now: str
) -> None:
    conn.execute(
        "UPDATE artifacts SET state = 'COMMITTED', size = ?, file_count = ?, updated_at = ?,"
        " aliases_pending = NULL WHERE id = ?",
        (size, file_count, now, artifact_id),
    )


def update_version(
    conn: Connection, artifact_id: int, changes: Mapping[str, Any], now: str
) -> None:
    """Set the :data:`UPDATABLE` columns in ``changes`` and ``updated_at``."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable artifact columns: {sorted(unknown)}")
    assignments = "".join(f"{column} = ?, " for column in changes)
    conn.execute(
        f"UPDATE artifacts SET {assignments}updated_at = ? WHERE id = ?",
        (*changes.values(), now, artifact_id),
    )


# --------------------------------------------------------------------------- collections


def sequence_by_id(conn: Connection, sequence_id: int) -> Row | None:
    return conn.execute("SELECT * FROM artifact_sequences WHERE id = ?", (sequence_id,)).first()


def find_sequence(
    conn: Connection,
    *,
    sequence_id: int | None = None,
    project_id: int | None = None,
    name: str | None = None,
    type_name: str | None = None,
) -> Row | None:
    """The collection (with ``entity``) by id, or by project and name (and type)."""
    if sequence_id is not None:
        return conn.execute(
            _SEQUENCE_SELECT + " WHERE artifact_sequences.id = ?", (sequence_id,)
        ).first()
    where = " WHERE artifact_sequences.project_id = ? AND artifact_sequences.name = ?"
    params: list[Any] = [project_id, name]
    if type_name is not None:
        where += " AND artifact_sequences.type_name = ?"
        params.append(type_name)
    return conn.execute(_SEQUENCE_SELECT + where, params).first()


def sequences_of_project(conn: Connection, project_id: int, type_name: str | None) -> list[Row]:
    """The project's collections (of ``type_name`` when given), oldest first."""
    where = " WHERE artifact_sequences.project_id = ?"
    params: list[Any] = [project_id]
    if type_name is not None:
        where += " AND artifact_sequences.type_name = ?"
        params.append(type_name)
    return conn.execute(_SEQUENCE_SELECT + where + " ORDER BY artifact_sequences.id", params).all()


def sequence_for_write(conn: Connection, project_id: int, name: str) -> Row | None:
    """``id`` and ``type_name`` of the project's collection ``name``, or None."""
    return conn.execute(
        "SELECT id, type_name FROM artifact_sequences WHERE project_id = ? AND name = ?",
        (project_id, name),
    ).first()


def create_sequence(conn: Connection, project_id: int, name: str, type_name: str, now: str) -> int:
    row = conn.execute(
        "INSERT INTO artifact_sequences (project_id, name, type_name, created_at)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        (project_id, name, type_name, now),
    ).one()
    return int(row[0])


def project_types(conn: Connection, project_id: int) -> list[tuple[str, str]]:
    """``(type name, first created_at)`` of the project's artifact types, in the order
    their first collections were made."""
    rows = conn.execute(
        "SELECT type_name, MIN(created_at) FROM artifact_sequences WHERE project_id = ?"
        " GROUP BY type_name ORDER BY MIN(id)",
        (project_id,),
    ).tuples()
    return [(str(name), str(created)) for name, created in rows]


# --------------------------------------------------------------------------- aliases, tags


def version_aliases(conn: Connection, artifact_id: int) -> list[tuple[int, str]]:
    """``(alias id, alias)`` of a version, oldest first."""
    rows = conn.execute(
        "SELECT id, alias FROM artifact_aliases WHERE artifact_id = ? ORDER BY id", (artifact_id,)
    ).tuples()
    return [(int(alias_id), str(alias)) for alias_id, alias in rows]


def sequence_aliases(conn: Connection, sequence_id: int) -> list[tuple[int, str]]:
    """``(alias id, alias)`` of a collection's versions, oldest first."""
    rows = conn.execute(
        "SELECT id, alias FROM artifact_aliases WHERE sequence_id = ? ORDER BY id", (sequence_id,)
    ).tuples()
    return [(int(alias_id), str(alias)) for alias_id, alias in rows]


def set_alias(conn: Connection, sequence_id: int, artifact_id: int, alias: str) -> None:
    """Point the collection's ``alias`` at the version (moving it from another)."""
    conn.execute(
        "INSERT INTO artifact_aliases (sequence_id, artifact_id, alias) VALUES (?, ?, ?)"
        " ON CONFLICT (sequence_id, alias) DO UPDATE SET artifact_id = excluded.artifact_id",
        (sequence_id, artifact_id, alias),
    )


def keep_only_aliases(conn: Connection, artifact_id: int, aliases: Sequence[str]) -> None:
    """Remove the version's aliases not in ``aliases``."""
    fragment, param = conn.dialect.text_list(aliases)
    conn.execute(
        f"DELETE FROM artifact_aliases WHERE artifact_id = ? AND alias NOT IN {fragment}",
        (artifact_id, param),
    )


def version_tags(conn: Connection, artifact_id: int) -> list[tuple[int, str]]:
    """``(tag id, name)`` of a version, oldest first."""
    rows = conn.execute(
        "SELECT id, name FROM artifact_tags WHERE artifact_id = ? ORDER BY id", (artifact_id,)
    ).tuples()
    return [(int(tag_id), str(name)) for tag_id, name in rows]


def add_tags(conn: Connection, artifact_id: int, names: Sequence[str]) -> None:
    conn.executemany(
        "INSERT INTO artifact_tags (artifact_id, name) VALUES (?, ?)"
        " ON CONFLICT (artifact_id, name) DO NOTHING",
        [(artifact_id, name) for name in names],
    )


def remove_tags(conn: Connection, artifact_id: int, names: Sequence[str]) -> None:
    conn.executemany(
        "DELETE FROM artifact_tags WHERE artifact_id = ? AND name = ?",
        [(artifact_id, name) for name in names],
    )


# --------------------------------------------------------------------------- usages


def usage_names(conn: Connection, run_id: int, artifact_id: int) -> str | None:
    """The ``used_as`` names (JSON list text) of the run's use of the version; None when
    the run has not used it (or with no names recorded)."""
    row = conn.execute(
        "SELECT used_as FROM artifact_usages WHERE run_id = ? AND artifact_id = ?",
        (run_id, artifact_id),
    ).first()
    return None if row is None else row[0]


def record_usage(conn: Connection, run_id: int, artifact_id: int, used_as: str, now: str) -> None:
    """The run uses the version under the names ``used_as`` (JSON list text)."""
    conn.execute(
        "INSERT INTO artifact_usages (run_id, artifact_id, used_as, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (run_id, artifact_id)"
        " DO UPDATE SET used_as = excluded.used_as",
        (run_id, artifact_id, used_as, now),
    )


def runs_using(conn: Connection, artifact_id: int) -> list[Row]:
    """The runs (rows as the runs lookups give them) that used the version, in the order
    they first used it."""
    return conn.execute(
        RUN_SELECT + " JOIN artifact_usages ON artifact_usages.run_id = runs.id"
        " WHERE artifact_usages.artifact_id = ?"
        " ORDER BY artifact_usages.created_at, artifact_usages.run_id",
        (artifact_id,),
    ).all()
