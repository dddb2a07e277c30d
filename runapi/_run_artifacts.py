"""A run's artifacts over GraphQL: output/input pages, logging and using versions."""

from __future__ import annotations

from typing import Any, Literal

from ._artifact_upload import Uploader, UploadOptions, digest_of, hash_files
from ._artifacts import Artifact, ArtifactSpec, fetch_artifact
from ._context import Context
from ._exceptions import ResponseValidationError
from ._http import MUTATION
from ._json import dumps
from ._lookup import require_run
from ._pagination import Page, next_cursor
from ._paths import RunPath

Direction = Literal["logged", "used"]


def artifacts_page(
    ctx: Context, path: RunPath, direction: Direction, first: int, after: str | None
) -> Page[Artifact]:
    """One page of the artifacts the run logged (outputs) or used (inputs)."""
    client = ctx.gql.client
    if direction == "logged":
        logged = require_run(
            ctx.gql.call(
                client.list_logged_artifacts,
                path.entity,
                path.project,
                path.run_id,
                first=first,
                after=after,
            ),
            path,
        )
        conn: Any = logged.output_artifacts
    else:
        used = require_run(
            ctx.gql.call(
                client.list_used_artifacts,
                path.entity,
                path.project,
                path.run_id,
                first=first,
                after=after,
            ),
            path,
        )
        conn = used.input_artifacts
    if conn is None:
        return Page([], None, False, 0)
    items = [Artifact(ctx, e.node) for e in conn.edges if e.node is not None]
    cursor = next_cursor(conn.page_info.end_cursor, conn.edges)
    return Page(items, cursor, conn.page_info.has_next_page, conn.total_count)


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")


def log(
    ctx: Context,
    path: RunPath,
    artifact: ArtifactSpec,
    aliases: list[str] | None,
    tags: list[str] | None,
    options: UploadOptions,
) -> Artifact:
    """A new committed version (or the existing one with the same digest): see
    `runapi._artifact_upload` for the sequence."""
    if not isinstance(artifact, ArtifactSpec):
        raise TypeError(f"artifact must be an ArtifactSpec, not {type(artifact).__name__}")
    alias_names = ["latest"] if aliases is None else list(aliases)
    if not all(isinstance(a, str) and a for a in alias_names):
        raise ValueError(f"aliases must be non-empty str, not {aliases!r}")
    if "latest" not in alias_names:
        alias_names.insert(0, "latest")
    if tags is not None and not all(isinstance(t, str) and t for t in tags):
        raise ValueError(f"tags must be non-empty str, not {tags!r}")
    _positive("max_workers", options.workers)
    _positive("multipart_threshold", options.multipart_threshold)
    _positive("part_size", options.part_size)
    local_files = artifact.files
    if local_files and artifact.digest:
        raise ValueError(
            "an artifact with files gets its digest from them: leave ArtifactSpec.digest None"
        )
    for name, local in local_files.items():
        if not local.is_file():
            raise FileNotFoundError(f"file {str(local)!r} (artifact path {name!r}) is gone")
    from runapi_generated.enums import ArtifactDigestAlgorithm
    from runapi_generated.input_types import ArtifactAliasInput, CreateArtifactInput, TagInput

    files = hash_files(local_files, options.workers) if local_files else []
    artifact_input = CreateArtifactInput(
        artifact_type_name=artifact.type,
        artifact_collection_name=artifact.name,
        artifact_collection_names=[artifact.name],
        entity_name=path.entity,
        project_name=path.project,
        run_name=path.run_id,
        description=artifact.description,
        digest=digest_of(files) if files else artifact.resolved_digest,
        digest_algorithm=ArtifactDigestAlgorithm.MANIFEST_MD5,
        aliases=[
            ArtifactAliasInput(artifact_collection_name=artifact.name, alias=a) for a in alias_names
        ],
        metadata=dumps(artifact.metadata),
        tags=[TagInput(tag_name=t) for t in tags] if tags else None,
        enable_digest_deduplication=True,
    )
    return Artifact(ctx, Uploader(ctx, path, artifact_input, files, options).run())


def use(ctx: Context, path: RunPath, artifact: Artifact | str, use_as: str | None) -> Artifact:
    """`useArtifact`: record `artifact` (an `Artifact` or its path) as an input of the run."""
    if isinstance(artifact, str):
        artifact = fetch_artifact(ctx, artifact)
    data: dict[str, Any] = {
        "entityName": path.entity,
        "projectName": path.project,
        "runName": path.run_id,
        "artifactID": artifact.id,
    }
    if use_as is not None:
        data["usedAs"] = use_as
    if artifact.entity is not None and artifact.project is not None:
        data["artifactEntityName"] = artifact.entity
        data["artifactProjectName"] = artifact.project
    from runapi_generated.input_types import UseArtifactInput

    result = ctx.gql.call(
        ctx.gql.client.use_artifact,
        input=UseArtifactInput.model_validate(data),
        extensions=MUTATION,
    )
    if result is None:
        raise ResponseValidationError("useArtifact returned no artifact")
    return Artifact(ctx, result.artifact)
