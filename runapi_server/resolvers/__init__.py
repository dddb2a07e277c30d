"""Resolvers for ``schema.graphql``, one module per area; ``BINDABLES`` collects them."""

from __future__ import annotations

from ariadne.types import SchemaBindable

from runapi_server.resolvers import (
    artifact_files,
    artifact_reads,
    artifact_versions,
    artifact_writes,
    artifacts,
    files,
    history,
    query,
    run_writes,
    runs,
    scalars,
)

BINDABLES: list[SchemaBindable] = [
    *scalars.BINDABLES,
    *query.BINDABLES,
    *runs.BINDABLES,
    *run_writes.BINDABLES,
    *history.BINDABLES,
    *files.BINDABLES,
    *artifacts.BINDABLES,
    *artifact_files.BINDABLES,
    *artifact_writes.BINDABLES,
    *artifact_reads.BINDABLES,
    *artifact_versions.BINDABLES,
]
