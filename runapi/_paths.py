"""Parsing run, project and artifact paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._exceptions import InvalidPathError

_SEGMENT = re.compile(r"^[^\s/:?#]+$")

RUN_PATH_FORMS = (
    "'entity/project/run_id', 'entity/project/runs/run_id' or a run URL "
    "'https://host/entity/project/runs/run_id'"
)


@dataclass(frozen=True)
class RunPath:
    """A run address."""

    entity: str
    project: str
    run_id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.run_id}"


@dataclass(frozen=True)
class ArtifactPath:
    """An artifact version address: `entity/project/name:version_or_alias`."""

    entity: str
    project: str
    name: str
    version: str

    @property
    def qualified_name(self) -> str:
        """`name:version` as the server looks it up."""
        return f"{self.name}:{self.version}"

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}:{self.version}"


def _valid(parts: list[str]) -> bool:
    return all(_SEGMENT.match(p) for p in parts)


def parse_run_path(path: str) -> RunPath:
    """Parse a run path or URL.

    ```python
    >>> parse_run_path("alice/mnist/runs/1a2b3c4d")
    RunPath(entity='alice', project='mnist', run_id='1a2b3c4d')
    >>> parse_run_path("https://wandb.ai/alice/mnist/runs/1a2b3c4d").run_id
    '1a2b3c4d'
    ```
    Anything else raises `InvalidPathError` (a `ValueError`) naming the accepted forms.
    """
    if not isinstance(path, str):
        raise TypeError(f"run path must be a str, not {type(path).__name__}")
    text = path.strip()
    if text.startswith(("http://", "https://")):
        parts = [p for p in urlsplit(text).path.split("/") if p]
        if len(parts) == 4 and parts[2] == "runs" and _valid(parts):
            return RunPath(parts[0], parts[1], parts[3])
        raise InvalidPathError(f"malformed run URL {path!r}: expected {RUN_PATH_FORMS}")
    parts = text.split("/")
    if len(parts) == 4 and parts[2] == "runs":
        parts = [parts[0], parts[1], parts[3]]
    if len(parts) == 3 and _valid(parts):
        return RunPath(parts[0], parts[1], parts[2])
    raise InvalidPathError(f"malformed run path {path!r}: expected {RUN_PATH_FORMS}")


def parse_project_path(path: str) -> tuple[str, str]:
    """Parse `entity/project` into its two parts (`InvalidPathError` otherwise)."""
    if not isinstance(path, str):
        raise TypeError(f"project path must be a str, not {type(path).__name__}")
    parts = path.strip().strip("/").split("/")
    if len(parts) == 2 and _valid(parts):
        return parts[0], parts[1]
    raise InvalidPathError(f"malformed project path {path!r}: expected 'entity/project'")


def parse_artifact_path(path: str) -> ArtifactPath:
    """Parse `entity/project/name:version_or_alias` (`:latest` when no version is given)."""
    if not isinstance(path, str):
        raise TypeError(f"artifact path must be a str, not {type(path).__name__}")
    parts = path.strip().split("/")
    if len(parts) == 3 and _valid(parts[:2]) and parts[2]:
        name, _, version = parts[2].partition(":")
        version = version or "latest"
        if _valid([name]) and _valid([version]):
            return ArtifactPath(parts[0], parts[1], name, version)
    raise InvalidPathError(
        f"malformed artifact path {path!r}: expected 'entity/project/name:version' "
        "(version such as 'v0' or an alias such as 'latest')"
    )
