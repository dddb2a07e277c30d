"""Projects and runs: the ``projects`` and ``runs`` tables (and deleting a run with the
artifact versions it logged).

A run row (:func:`run_by_id`, :func:`run_by_path`, :func:`runs_by_ids`) has the ``runs``
columns plus ``project_name`` and ``entity``; a project row has the ``projects`` columns.

- projects: :func:`project_by_name`, :func:`project_by_id`, :func:`ensure_project`;
- runs by key: :func:`run_by_path`, :func:`run_by_id`, :func:`runs_by_ids`,
  :func:`run_name_taken`;
- a project's runs: :func:`count_runs`, :func:`light_runs` (the columns a filter or
  order reads), :func:`ordered_run_ids` (a window in a column's order);
- writes: :func:`insert_run`, :func:`update_run`, :func:`record_stream_post`,
  :func:`delete_run`.

```python
with db.transaction() as conn:
    project_db_id = ensure_project(conn, "alice", "mnist", now)
    run_db_id = insert_run(conn, project_db_id=project_db_id, name="1a2b3c4d", user_id=1,
                           display_name="calm-sea-1", now=now, url_key=key)
    update_run(conn, run_db_id, {"state": "finished", "updated_at": now})
run = run_by_path(db.read(), "alice", "mnist", "1a2b3c4d")
```
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from runapi_server.storage.connection import Connection, Row

RUN_SELECT: Final = (
    "SELECT runs.*, projects.name AS project_name, projects.entity AS entity"
    " FROM runs JOIN projects ON projects.id = runs.project_id"
)

LIGHT_COLUMNS: Final = (
    "runs.id, runs.state, runs.name, runs.display_name, runs.group_name, runs.job_type,"
    " runs.created_at, runs.updated_at, runs.heartbeat_at"
)
"""The columns of a light run row (:func:`light_runs`): id and the scalar columns."""
JSON_COLUMNS: Final = frozenset({"config", "summary", "tags"})
"""The JSON columns a light row may add."""
ORDER_COLUMNS: Final = frozenset(
    {"state", "name", "display_name", "group_name", "job_type", "created_at", "updated_at",
     "heartbeat_at"}
)  # fmt: skip
"""The TEXT columns :func:`ordered_run_ids` orders by."""
NOT_NULL_COLUMNS: Final = frozenset({"state", "name", "created_at", "updated_at", "heartbeat_at"})
"""Columns that are never NULL: their order needs no "missing last" term."""
UPDATABLE_COLUMNS: Final = frozenset(
    {"display_name", "description", "notes", "group_name", "job_type", "commit_hash", "host",
     "program", "sweep_name", "state", "tags", "config", "summary", "updated_at",
     "heartbeat_at"}
)  # fmt: skip
"""The columns :func:`update_run` sets."""


# --------------------------------------------------------------------------- projects


def project_by_name(conn: Connection, entity: str, name: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT * FROM projects WHERE entity = ? AND name = ?", (entity, name)
    ).first()
    return row


def project_by_id(conn: Connection, project_db_id: int) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM projects WHERE id = ?", (project_db_id,)).first()
    return row


def ensure_project(conn: Connection, entity: str, name: str, now: str) -> int:
    """The id of project ``entity/name``, created when missing."""
    conn.execute(
        "INSERT INTO projects (entity, name, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (entity, name) DO NOTHING",
        (entity, name, now),
    )
    (project_db_id,) = conn.execute(
        "SELECT id FROM projects WHERE entity = ? AND name = ?", (entity, name)
    ).one()
    return int(project_db_id)


# --------------------------------------------------------------------------- runs by key


def run_by_path(conn: Connection, entity: str, project: str, run_name: str) -> Row | None:
    """The run ``entity/project/run_name`` (whoever asks: callers check access)."""
    row: Row | None = conn.execute(
        RUN_SELECT + " WHERE projects.entity = ? AND projects.name = ? AND runs.name = ?",
        (entity, project, run_name),
    ).first()
    return row


def run_by_id(conn: Connection, run_db_id: int) -> Row | None:
    row: Row | None = conn.execute(RUN_SELECT + " WHERE runs.id = ?", (run_db_id,)).first()
    return row


def runs_by_ids(conn: Connection, run_db_ids: Sequence[int]) -> list[Row]:
    """The run rows of ``run_db_ids`` that exist, in id order."""
    if not run_db_ids:
        return []
    fragment, param = conn.dialect.int_list(run_db_ids)
    return conn.execute(
        RUN_SELECT + f" WHERE runs.id IN {fragment} ORDER BY runs.id", (param,)
    ).all()


def run_names_by_ids(conn: Connection, run_db_ids: Sequence[int]) -> list[Row]:
    """``(id, name)`` rows of the runs of ``run_db_ids`` that exist, in id order: what a
    listing of run names needs, without the JSON columns of :func:`runs_by_ids`."""
    if not run_db_ids:
        return []
    fragment, param = conn.dialect.int_list(run_db_ids)
    return conn.execute(
        f"SELECT id, name FROM runs WHERE id IN {fragment} ORDER BY id", (param,)
    ).all()


def run_name_taken(conn: Connection, project_db_id: int, name: str) -> bool:
    taken = conn.execute(
        "SELECT 1 FROM runs WHERE project_id = ? AND name = ?", (project_db_id, name)
    ).first()
    return taken is not None


# --------------------------------------------------------------------------- a project's runs


def count_runs(conn: Connection, project_db_id: int) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM runs WHERE project_id = ?", (project_db_id,)
    ).one()
    return int(count)


def light_runs(
    conn: Connection,
    project_db_id: int,
    *,
    json_columns: Collection[str] = (),
    names: Sequence[str] | None = None,
) -> list[Row]:
    """The project's runs in creation (id) order as light rows: :data:`LIGHT_COLUMNS` plus
    the ``json_columns`` asked for; only runs named in ``names`` when given."""
    unknown = set(json_columns) - JSON_COLUMNS
    if unknown:
        raise ValueError(f"not JSON columns of runs: {sorted(unknown)}")
    extra = "".join(f", runs.{column}" for column in sorted(json_columns))
    where = "runs.project_id = ?"
    params: list[Any] = [project_db_id]
    if names is not None:
        fragment, param = conn.dialect.text_list(names)
        where += f" AND runs.name IN {fragment}"
        params.append(param)
    return conn.execute(
        f"SELECT {LIGHT_COLUMNS}{extra} FROM runs WHERE {where} ORDER BY runs.id", params
    ).all()


def ordered_run_ids(
    conn: Connection,
    project_db_id: int,
    *,
    column: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """Ids of the project's runs ``offset`` .. ``offset + limit`` in ``column``'s order.

    Text by code point (as Python orders ``str``), NULLs last either way, ties in
    creation (id) order: the order a Python sort of the light rows gives.
    """
    if column not in ORDER_COLUMNS:
        raise ValueError(f"runs are not ordered by column {column!r}")
    if limit <= 0:
        return []
    name = f"runs.{column}"
    terms = [] if column in NOT_NULL_COLUMNS else [f"{name} IS NULL"]
    text = conn.dialect.binary_text(name)
    terms.append(f"{text} DESC" if descending else text)
    terms.append("runs.id")
    rows = conn.execute(
        f"SELECT runs.id FROM runs WHERE runs.project_id = ? ORDER BY {', '.join(terms)}"
        " LIMIT ? OFFSET ?",
        (project_db_id, limit, offset),
    ).tuples()
    return [int(row[0]) for row in rows]


# --------------------------------------------------------------------------- writes


def insert_run(
    conn: Connection,
    *,
    project_db_id: int,
    name: str,
    user_id: int,
    display_name: str,
    now: str,
    url_key: str,
) -> int:
    """A new run (created, updated and last seen ``now``); its database id."""
    (run_db_id,) = conn.execute(
        "INSERT INTO runs (project_id, name, user_id, display_name, created_at, updated_at,"
        " heartbeat_at, url_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (project_db_id, name, user_id, display_name, now, now, now, url_key),
    ).one()
    return int(run_db_id)


def update_run(conn: Connection, run_db_id: int, values: Mapping[str, Any]) -> None:
    """Set the run's columns named in ``values`` (of :data:`UPDATABLE_COLUMNS`)."""
    unknown = set(values) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"not updatable columns of runs: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{column} = ?" for column in values)
    conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_db_id))


ENDED_STATES: Final = frozenset({"finished", "failed", "crashed", "killed", "preempted"})
"""States of a run that has ended; its next file-stream post makes it ``running`` again."""


@dataclass(frozen=True)
class RunEnd:
    """How a run ended (its file stream's last post): its final state and exit code."""

    state: str
    exitcode: int | None


def record_stream_post(
    conn: Connection, run_db_id: int, *, now: str, summary: str | None, end: RunEnd | None
) -> None:
    """What a file-stream post changes on the run: seen ``now``, the summary when sent,
    the final state and exit code when it was the last post. Any other post is a sign of
    life: a run that had ended (``ENDED_STATES``) was resumed and is running again."""
    values: dict[str, Any] = {}
    if summary is not None:
        values["summary"] = summary
    if end is not None:
        values["state"] = end.state
        values["exitcode"] = end.exitcode
    values["heartbeat_at"] = now
    values["updated_at"] = now
    assignments = [f"{column} = ?" for column in values]
    params = [*values.values()]
    if end is None:  # both read the state before this update
        ended, param = conn.dialect.text_list(sorted(ENDED_STATES))
        assignments.append(f"state = CASE WHEN state IN {ended} THEN 'running' ELSE state END")
        assignments.append(f"exitcode = CASE WHEN state IN {ended} THEN NULL ELSE exitcode END")
        params += [param, param]
    conn.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE id = ?", (*params, run_db_id))


def delete_run(conn: Connection, run_db_id: int, *, with_artifacts: bool) -> None:
    """Delete the run and its rows; with ``with_artifacts`` also the artifact versions it
    logged (each sequence's ``latest`` then points at its newest remaining version; a
    sequence left empty goes). Blobs and files on disk are the caller's."""
    if with_artifacts:
        logged = conn.execute(
            "SELECT id, sequence_id FROM artifacts WHERE created_by_run_id = ? ORDER BY id",
            (run_db_id,),
        ).all()
        conn.executemany("DELETE FROM artifacts WHERE id = ?", [(a["id"],) for a in logged])
        _reset_latest(conn, sorted({int(a["sequence_id"]) for a in logged}))
    conn.execute("DELETE FROM runs WHERE id = ?", (run_db_id,))


def _reset_latest(conn: Connection, sequence_ids: Sequence[int]) -> None:
    """Point ``latest`` at each sequence's newest remaining version; drop empty sequences."""
    for sequence_id in sequence_ids:
        newest = conn.execute(
            "SELECT id FROM artifacts WHERE sequence_id = ? AND state = 'COMMITTED'"
            " ORDER BY version_index DESC LIMIT 1",
            (sequence_id,),
        ).first()
        if newest is None:
            if not conn.execute(
                "SELECT 1 FROM artifacts WHERE sequence_id = ?", (sequence_id,)
            ).first():
                conn.execute("DELETE FROM artifact_sequences WHERE id = ?", (sequence_id,))
            continue
        conn.execute(
            "INSERT INTO artifact_aliases (sequence_id, artifact_id, alias)"
            " VALUES (?, ?, 'latest')"
            " ON CONFLICT (sequence_id, alias) DO UPDATE SET artifact_id = excluded.artifact_id",
            (sequence_id, newest["id"]),
        )
