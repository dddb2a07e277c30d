"""Unwrapping `project { run { ... } }` answers: a null project or run is a `RunNotFoundError`."""

from __future__ import annotations

from typing import Protocol, TypeVar

from ._exceptions import RunNotFoundError
from ._paths import RunPath

R_co = TypeVar("R_co", covariant=True)


class HasRun(Protocol[R_co]):
    """A generated `...Project` model with a `run` field."""

    @property
    def run(self) -> R_co | None: ...


def require_run(project: HasRun[R_co] | None, path: RunPath) -> R_co:
    """The run of a `project { run }` answer, or `RunNotFoundError` naming `path`."""
    run = project.run if project is not None else None
    if run is None:
        raise RunNotFoundError(f"run {path} not found")
    return run
