"""Histories of many runs at once: batched, bounded concurrent fetches (`ref_frames`,
behind `runapi.history_frames` and `Runs.histories`).

Sampled histories are read `CHUNK_SIZE` runs per request: one `ListRunsHistory` (or, with
`keys`, `ListRunsSampledHistory`) operation per chunk of runs of one project, filtered by
`{"name": {"$in": [...]}}`, and the answers are mapped back to the runs by name.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ._exceptions import GraphQLError, ResponseValidationError, RunNotFoundError
from ._history import HistoryScan
from ._json import ColumnBuilder, dumps, gc_paused, row_objects
from ._pagination import page_limit
from ._paths import RunPath

if TYPE_CHECKING:
    import pandas

    from ._context import Context

DEFAULT_WORKERS = 8
CHUNK_SIZE = 25
"""Most runs per batched request; fewer when that keeps all `max_workers` busy."""


class RunRef(NamedTuple):
    """A run as the bulk fetches need it: the `Api` context it is read through, and its path."""

    ctx: Context
    entity: str
    project: str
    name: str


@dataclass
class _Chunk:
    """Runs of one project (and one `Api`) fetched by one request."""

    ctx: Context
    entity: str
    project: str
    names: list[str] = field(default_factory=list)


def _chunks(targets: list[RunRef], size: int) -> list[_Chunk]:
    """The distinct runs of `targets`, grouped by (api, entity, project), `size` per chunk."""
    groups: dict[tuple[int, str, str], _Chunk] = {}
    seen: set[tuple[int, str, str, str]] = set()
    for ref in targets:
        key = (id(ref.ctx), ref.entity, ref.project)
        if (*key, ref.name) in seen:
            continue
        seen.add((*key, ref.name))
        groups.setdefault(key, _Chunk(ref.ctx, ref.entity, ref.project)).names.append(ref.name)
    chunks: list[_Chunk] = []
    for group in groups.values():
        for i in range(0, len(group.names), size):
            chunks.append(_Chunk(group.ctx, group.entity, group.project, group.names[i : i + size]))
    return chunks


def _nodes(data: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The run nodes of a `project { runs { edges { node } } }` answer (null project: none)."""
    project = data.get("project")
    if project is None:
        return []
    runs = project.get("runs") if isinstance(project, dict) else None
    edges = runs.get("edges") if isinstance(runs, dict) else None
    if not isinstance(edges, list):
        raise ResponseValidationError(f"GraphQL {what}: runs.edges is not a list")
    nodes = [edge.get("node") if isinstance(edge, dict) else None for edge in edges]
    if not all(isinstance(node, dict) and isinstance(node.get("name"), str) for node in nodes):
        raise ResponseValidationError(f"GraphQL {what}: a run node without a name")
    return nodes  # type: ignore[return-value]


def _fetch_chunk(
    chunk: _Chunk, samples: int, keys: list[str] | None, x_axis: str
) -> dict[str, ColumnBuilder]:
    """Rows (as columns) by run name for the runs of `chunk` (runs the server did not
    return are absent); a server whose page limit is below the chunk is asked in chunks
    it allows."""
    try:
        return _fetch_names(chunk, samples, keys, x_axis)
    except GraphQLError as exc:
        limit = page_limit(exc)
        if limit is None or limit < 1 or limit >= len(chunk.names):
            raise
    rows: dict[str, ColumnBuilder] = {}
    for i in range(0, len(chunk.names), limit):
        part = _Chunk(chunk.ctx, chunk.entity, chunk.project, chunk.names[i : i + limit])
        rows.update(_fetch_names(part, samples, keys, x_axis))
    return rows


def _fetch_names(
    chunk: _Chunk, samples: int, keys: list[str] | None, x_axis: str
) -> dict[str, ColumnBuilder]:
    """Rows (as columns, decoded as `decode_rows` does) by run name for the runs of
    `chunk`, in one request."""
    from runapi_generated.operations import (
        LIST_RUNS_HISTORY_GQL,
        LIST_RUNS_SAMPLED_HISTORY_GQL,
    )

    variables: dict[str, object] = {
        "entity": chunk.entity,
        "project": chunk.project,
        "filters": dumps({"name": {"$in": chunk.names}}),
        "first": len(chunk.names),
    }
    rows: dict[str, ColumnBuilder] = {}
    if keys is None:
        variables["samples"] = samples
        what = "ListRunsHistory"
        data = chunk.ctx.gql.data(LIST_RUNS_HISTORY_GQL, what, variables)
        for node in _nodes(data, what):
            texts = node.get("history")
            if not isinstance(texts, list) or not set(map(type, texts)) <= {str}:
                raise ResponseValidationError(f"GraphQL {what}: history is not a list of str")
            rows[node["name"]] = columns = ColumnBuilder()
            columns.add_texts(texts, what)
        return rows
    spec_keys = keys if x_axis in keys else [*keys, x_axis]
    variables["specs"] = [dumps({"keys": spec_keys, "samples": samples})]
    what = "ListRunsSampledHistory"
    data = chunk.ctx.gql.data(LIST_RUNS_SAMPLED_HISTORY_GQL, what, variables)
    for node in _nodes(data, what):
        sampled = node.get("sampledHistory")
        if not isinstance(sampled, list):
            raise ResponseValidationError(f"GraphQL {what}: sampledHistory is not a list")
        rows[node["name"]] = columns = ColumnBuilder()
        columns.add(row_objects(sampled[0] if sampled else []))
    return rows


def check_bulk_args(samples: object, max_workers: object, x_axis: object) -> None:
    """`ValueError` for a bad `samples`, `max_workers` or `x_axis` of a bulk fetch."""
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"max_workers must be an int >= 1, not {max_workers!r}")
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, int) or samples < 1
    ):
        raise ValueError(f"samples must be None or an int >= 1, not {samples!r}")
    if not isinstance(x_axis, str) or not x_axis:
        raise ValueError(f"x_axis must be a non-empty str, not {x_axis!r}")


def ref_frames(
    targets: list[RunRef],
    *,
    samples: int | None,
    keys: list[str] | None,
    x_axis: str = "_step",
    max_workers: int = DEFAULT_WORKERS,
) -> list[pandas.DataFrame]:
    """One history frame per run of `targets` (checked arguments; see `history_frames`)."""
    if not targets:
        return []
    if samples is None:
        scan_keys = keys if keys is None or x_axis in keys else [*keys, x_axis]

        def full(ref: RunRef) -> pandas.DataFrame:
            path = RunPath(ref.entity, ref.project, ref.name)
            return HistoryScan(ref.ctx, path, keys=scan_keys).to_pandas()

        with ThreadPoolExecutor(min(max_workers, len(targets))) as pool:
            return list(pool.map(full, targets))
    columns = sampled_columns(
        targets, samples=samples, keys=keys, x_axis=x_axis, max_workers=max_workers
    )
    with gc_paused():
        return [builder.to_pandas() for builder in columns]


def sampled_columns(
    targets: list[RunRef],
    *,
    samples: int,
    keys: list[str] | None,
    x_axis: str = "_step",
    max_workers: int = DEFAULT_WORKERS,
) -> list[ColumnBuilder]:
    """The sampled history of each run of `targets`, as columns, in order: `CHUNK_SIZE`
    runs per request, `max_workers` requests at a time (checked arguments)."""
    if not targets:
        return []
    size = max(1, min(CHUNK_SIZE, -(-len(targets) // max_workers)))
    chunks = _chunks(targets, size)
    with ThreadPoolExecutor(min(max_workers, len(chunks))) as pool, gc_paused():
        answers = list(pool.map(lambda chunk: _fetch_chunk(chunk, samples, keys, x_axis), chunks))
    found: dict[tuple[int, str, str, str], ColumnBuilder] = {}
    for chunk, answer in zip(chunks, answers, strict=True):
        for name, columns in answer.items():
            found[(id(chunk.ctx), chunk.entity, chunk.project, name)] = columns
    builders: list[ColumnBuilder] = []
    for ref in targets:
        run_columns = found.get((id(ref.ctx), ref.entity, ref.project, ref.name))
        if run_columns is None:
            raise RunNotFoundError(f"run {RunPath(ref.entity, ref.project, ref.name)} not found")
        builders.append(run_columns)
    return builders
