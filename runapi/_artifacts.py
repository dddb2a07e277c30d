"""`Artifact` (a logged artifact version) and `ArtifactSpec` (a new one to log)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _rest as rest
from ._artifact_files import DOWNLOAD_WORKERS, ArtifactFile, download_all
from ._context import Context
from ._exceptions import (
    ArtifactFileNotFoundError,
    ArtifactNotFoundError,
    ProjectNotFoundError,
    ResponseValidationError,
)
from ._json import canonical, loads_object
from ._manifest import ArtifactManifest, check_artifact_path, parse_manifest
from ._pagination import Page, Paginator, next_cursor
from ._paths import parse_artifact_path

if TYPE_CHECKING:
    from runapi_generated.fragments import ArtifactFields


@dataclass
class ArtifactSpec:
    """A new artifact to log with `run.log_artifact(spec)`, with files or metadata only.

    `add_file` and `add_dir` add local files under a path inside the artifact; the bytes
    are hashed and uploaded by `log_artifact`. With files, the version's digest is W&B's
    logical manifest digest (`digest` must be left None). Without files, `digest`
    defaults to the MD5 (hex) of the canonical JSON of `{"metadata", "type"}`, so a
    metadata change makes a new version.

    ```python
    spec = ArtifactSpec(name="mnist", type="dataset", metadata={"rows": 60000})
    spec.add_dir("data/mnist")                     # data/mnist/train.csv -> train.csv
    spec.add_file("README.md", name="docs/README.md")
    artifact = run.log_artifact(spec, aliases=["best"])
    ```
    """

    name: str
    type: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    _files: dict[str, Path] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"artifact name must be non-empty without '/' or ':': {self.name!r}")
        if not self.type:
            raise ValueError("artifact type must be non-empty")

    @property
    def files(self) -> dict[str, Path]:
        """The files added so far: path inside the artifact -> local path (a copy)."""
        return dict(self._files)

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None) -> str:
        """Add one local file as `name` (default: its file name); returns `name`.

        `ValueError` for a name already added or not usable inside an artifact (empty,
        absolute, with `..`, a backslash or NUL); `FileNotFoundError` when the file is
        missing. The bytes are read when the artifact is logged.

        ```python
        spec.add_file("model.pt")                      # as model.pt
        spec.add_file("out/model.pt", name="ckpt/final.pt")
        ```
        """
        local = Path(local_path)
        if not local.is_file():
            raise FileNotFoundError(f"no such file: {str(local)!r}")
        target = check_artifact_path(local.name if name is None else name)
        self._add({target: local})
        return target

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add every file under a local directory, recursively.

        A file's path inside the artifact is its path relative to `local_path`, under the
        prefix `name` when given (as in wandb). Symlinks are followed (a directory reached
        twice is listed once). Empty directories are not recorded.
        Nothing is added when any path is refused (`ValueError`).

        ```python
        spec.add_dir("data")                   # data/a/b.csv -> a/b.csv
        spec.add_dir("data", name="raw")       # data/a/b.csv -> raw/a/b.csv
        ```
        """
        local = Path(local_path)
        if not local.is_dir():
            raise NotADirectoryError(f"no such directory: {str(local)!r}")
        prefix = check_artifact_path(name.rstrip("/") or name) + "/" if name else ""
        found: dict[str, Path] = {}
        seen = {os.path.realpath(local)}
        for root, dirs, files in os.walk(local, followlinks=True):
            # Symlinked directories are followed once (a link to a parent would loop).
            real = {d: os.path.realpath(os.path.join(root, d)) for d in dirs}
            dirs[:] = sorted(d for d in dirs if real[d] not in seen)
            seen.update(real[d] for d in dirs)
            for file_name in sorted(files):
                path = Path(root) / file_name
                if not path.is_file():
                    continue
                relative = path.relative_to(local).as_posix()
                found[check_artifact_path(prefix + relative)] = path
        self._add(found)

    def _add(self, found: dict[str, Path]) -> None:
        taken = sorted(set(found) & set(self._files))
        if taken:
            raise ValueError(f"artifact {self.name!r} already has a file named {taken[0]!r}")
        self._files.update(found)

    @property
    def resolved_digest(self) -> str:
        """`digest` if given, else the MD5 of the canonical metadata and type.

        (With files, `log_artifact` sends the logical manifest digest instead.)
        """
        if self.digest:
            return self.digest
        payload = canonical({"metadata": self.metadata, "type": self.type})
        return hashlib.md5(payload.encode("utf-8")).hexdigest()


class Artifact:
    """A logged artifact version (`api.artifact(...)`, `run.logged_artifacts()`, ...).

    ```python
    a = api.artifact("alice/mnist/dataset:latest")
    a.name, a.version, a.aliases, a.metadata
    a.digest, a.size, a.file_count            # as W&B defines them
    [f.name for f in a.files()]               # ArtifactFile: name, size, digest
    path = a.download()                       # ./artifacts/dataset:v3, every file MD5-checked
    ```
    """

    def __init__(self, ctx: Context, fields: ArtifactFields) -> None:
        self._ctx = ctx
        self._fields = fields
        self._metadata: dict[str, Any] | None = None
        self._manifest: ArtifactManifest | None = None

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
        """The version's digest: for an artifact with files W&B's logical manifest digest
        (hex MD5 over the sorted `path:digest` lines, `ArtifactManifest.digest`)."""
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
        """Sum of the manifest entries' sizes in bytes (references included)."""
        return self._fields.size

    @property
    def file_count(self) -> int:
        """Number of manifest entries."""
        return self._fields.file_count

    @property
    def created_at(self) -> datetime:
        """Creation time (UTC, naive)."""
        return self._fields.created_at

    @property
    def updated_at(self) -> datetime | None:
        """Last update (UTC, naive)."""
        return self._fields.updated_at

    # -- contents --------------------------------------------------------------------------

    @property
    def manifest(self) -> ArtifactManifest:
        """The version's manifest (fetched once from its signed URL): entries by path.

        ```python
        entry = artifact.manifest.entries["data/train.csv"]
        entry.digest, entry.size, entry.birth_artifact_id
        ```
        """
        if self._manifest is None:
            self._manifest = fetch_manifest(self._ctx, self.id, self.name)
        return self._manifest

    def files(
        self, names: list[str] | None = None, per_page: int = 1000
    ) -> Paginator[ArtifactFile]:
        """The version's files, paged lazily (`names` to list only those paths).

        ```python
        for f in artifact.files():
            print(f.name, f.size, f.digest)
        ```
        """
        if names is not None and not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a list of str, not {names!r}")
        return Paginator(
            lambda first, after: files_page(self._ctx, self.id, first, after, names),
            per_page=per_page,
            count=None if names is not None else (lambda: self.file_count),
        )

    def file(self, name: str) -> ArtifactFile:
        """The file at path `name` (raises `ArtifactFileNotFoundError`).

        ```python
        f = artifact.file("model.pt")
        ```
        """
        for found in self.files(names=[name], per_page=1):
            if found.name == name:
                return found
        raise ArtifactFileNotFoundError(f"artifact {self.qualified_name} has no file {name!r}")

    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        progress: bool | None = None,
        max_workers: int = DOWNLOAD_WORKERS,
    ) -> Path:
        """Download every file to `root` (default `./artifacts/<name:vN>`) and return it.

        Files are fetched `max_workers` at a time from their signed URLs; each is written to
        a temporary name, checked against the manifest (size and MD5) and renamed into
        place, so a file is there whole and verified or not at all. Files already present
        with the right bytes are kept, so a rerun after an interruption resumes. A mismatch
        raises `ArtifactChecksumError`. Reference entries (a `ref` URI, bytes stored
        elsewhere than W&B) are not fetched. A progress bar in bytes shows on a terminal
        unless `progress=False`.

        ```python
        path = api.artifact("alice/mnist/mnist:latest").download(root="data")
        ```
        """
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, not {max_workers!r}")
        target = Path(root) if root is not None else Path("artifacts") / self.name
        manifest = self.manifest
        listed: Iterable[ArtifactFile] = self.files() if manifest.entries else []
        download_all(
            self._ctx,
            manifest,
            listed,
            target,
            label=self.name,
            progress=progress,
            workers=max_workers,
        )
        target.mkdir(parents=True, exist_ok=True)
        return target

    def __repr__(self) -> str:
        return f"<Artifact {self.name} type={self.type}>"


def fetch_manifest(ctx: Context, artifact_id: str, label: str) -> ArtifactManifest:
    """`currentManifest.file.directUrl`, fetched without the key and parsed."""
    found = ctx.gql.call(ctx.gql.client.get_artifact_manifest, id=artifact_id)
    if found is None:
        raise ArtifactNotFoundError(f"artifact {label} not found")
    if found.current_manifest is None:
        return ArtifactManifest(entries={})
    url = found.current_manifest.file.direct_url
    what = f"GET manifest of artifact {label}"
    response = rest.send(ctx, "GET", url, what=what, signed=True, long=True)
    try:
        return parse_manifest(response.content)
    except ValueError as exc:
        raise ResponseValidationError(f"{what}: {exc}") from exc


def files_page(
    ctx: Context, artifact_id: str, first: int, after: str | None, names: list[str] | None
) -> Page[ArtifactFile]:
    """One page of `artifact(id).files`."""
    found = ctx.gql.call(
        ctx.gql.client.list_artifact_files, id=artifact_id, names=names, first=first, after=after
    )
    if found is None:
        raise ArtifactNotFoundError(f"artifact {artifact_id} not found")
    conn = found.files
    if conn is None:
        return Page([], None, False, 0)
    items = [ArtifactFile(ctx, e.node) for e in conn.edges if e.node is not None]
    cursor = next_cursor(conn.page_info.end_cursor, conn.edges)
    total = found.file_count if names is None else None
    return Page(items, cursor, conn.page_info.has_next_page, total)


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
    return Artifact(ctx, project.artifact)
