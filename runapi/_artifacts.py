"""`Artifact` (a logged artifact version) and `ArtifactSpec` (a new one to log)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._context import Context
from ._exceptions import ArtifactNotFoundError, ProjectNotFoundError
from ._json import canonical, loads_object
from ._paths import parse_artifact_path

if TYPE_CHECKING:
    from runapi_generated.fragments import ArtifactFields


@dataclass
class ArtifactSpec:
    """A new artifact to log with `run.log_artifact(spec)`.

    `digest` defaults to the MD5 (hex) of the canonical JSON of `{"metadata", "type"}`.

    ```python
    spec = ArtifactSpec(name="mnist", type="dataset", metadata={"rows": 60000})
    artifact = run.log_artifact(spec, aliases=["best"])
    ```
    """

    name: str
    type: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"artifact name must be non-empty without '/' or ':': {self.name!r}")
        if not self.type:
            raise ValueError("artifact type must be non-empty")

    @property
    def resolved_digest(self) -> str:
        """`digest` if given, else the MD5 of the canonical metadata and type."""
        if self.digest:
            return self.digest
        payload = canonical({"metadata": self.metadata, "type": self.type})
        return hashlib.md5(payload.encode("utf-8")).hexdigest()


class Artifact:
    """A logged artifact version (`api.artifact(...)`, `run.logged_artifacts()`, ...).

    ```python
    a = api.artifact("alice/mnist/dataset:latest")
    a.name, a.version, a.aliases, a.metadata
    ```
    """

    def __init__(self, fields: ArtifactFields) -> None:
        self._fields = fields
        self._metadata: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        """The server's opaque artifact id."""
        return self._fields.id

    @property
    def collection_name(self) -> str:
        """The artifact sequence's name (`name` without the version)."""
        return self._fields.artifact_sequence.name

    @property
    def version(self) -> str:
        """`vN`."""
        return f"v{self._fields.version_index or 0}"

    @property
    def name(self) -> str:
        """`sequence:vN`, as W&B shows it."""
        return f"{self.collection_name}:{self.version}"

    @property
    def entity(self) -> str | None:
        """The entity of the artifact's project."""
        project = self._fields.artifact_sequence.project
        return project.entity_name if project else None

    @property
    def project(self) -> str | None:
        """The artifact's project."""
        project = self._fields.artifact_sequence.project
        return project.name if project else None

    @property
    def qualified_name(self) -> str:
        """`entity/project/sequence:vN` (for `api.artifact`)."""
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def type(self) -> str:
        """Artifact type, e.g. `dataset`."""
        return self._fields.artifact_type.name

    @property
    def aliases(self) -> list[str]:
        """Aliases such as `latest`, `best`."""
        return [a.alias for a in self._fields.aliases]

    @property
    def tags(self) -> list[str]:
        """Tags."""
        return [t.name for t in self._fields.tags]

    @property
    def digest(self) -> str:
        """Content digest."""
        return self._fields.digest

    @property
    def metadata(self) -> dict[str, Any]:
        """Decoded metadata (`{}` when none)."""
        if self._metadata is None:
            self._metadata = loads_object(self._fields.metadata, "artifact metadata")
        return self._metadata

    @property
    def description(self) -> str | None:
        """Description."""
        return self._fields.description

    @property
    def state(self) -> str:
        """`COMMITTED`, `PENDING` or `DELETED`."""
        return self._fields.state.value

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._fields.size

    @property
    def file_count(self) -> int:
        """Number of files."""
        return self._fields.file_count

    @property
    def created_at(self) -> datetime:
        """Creation time (UTC, naive)."""
        return self._fields.created_at

    @property
    def updated_at(self) -> datetime | None:
        """Last update (UTC, naive)."""
        return self._fields.updated_at

    def __repr__(self) -> str:
        return f"<Artifact {self.name} type={self.type}>"


def fetch_artifact(ctx: Context, path: str) -> Artifact:
    """Look up `entity/project/name:version_or_alias` (raises `ArtifactNotFoundError`)."""
    parsed = parse_artifact_path(path)
    project = ctx.gql.call(
        ctx.gql.client.get_project_artifact,
        entity=parsed.entity,
        project=parsed.project,
        name=parsed.qualified_name,
    )
    if project is None:
        raise ProjectNotFoundError(f"project {parsed.entity}/{parsed.project} not found")
    if project.artifact is None:
        raise ArtifactNotFoundError(f"artifact {parsed} not found")
    return Artifact(project.artifact)
