"""`RunContents`: the methods of a `Run` that reach its history, files and artifacts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from . import _run_artifacts as run_artifacts
from . import _run_files as run_files
from ._artifact_upload import MULTIPART_THRESHOLD, PART_SIZE, UPLOAD_WORKERS, UploadOptions
from ._artifacts import Artifact, ArtifactSpec
from ._exceptions import RunFileNotFoundError
from ._files import File
from ._history import HistoryScan
from ._history_sampled import Stream, fetch_history, history_frame
from ._pagination import Paginator
from ._run_base import RunBase

if TYPE_CHECKING:
    import pandas


class RunContents(RunBase):
    """History, files and artifacts of a run; part of `runapi.Run`."""

    # -- history ------------------------------------------------------------------------

    @overload
    def history(
        self,
        samples: int = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        pandas: Literal[True] = ...,
        stream: Stream = ...,
    ) -> pandas.DataFrame: ...
    @overload
    def history(
        self,
        samples: int = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        *,
        pandas: Literal[False],
        stream: Stream = ...,
    ) -> list[dict[str, Any]]: ...
    @overload
    def history(
        self,
        samples: int = ...,
        keys: list[str] | None = ...,
        x_axis: str = ...,
        pandas: bool = ...,
        stream: Stream = ...,
    ) -> pandas.DataFrame | list[dict[str, Any]]: ...
    def history(
        self,
        samples: int = 500,
        keys: list[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: Stream = "default",
    ) -> pandas.DataFrame | list[dict[str, Any]]:
        """At most `samples` history rows, spread over the run, first and last kept.

        `keys` selects columns (rows lacking one of them are left out; `x_axis` is always
        included); `stream="system"` reads system metrics. `pandas=False` gives a list
        of dicts. Bad arguments raise `ValueError`.

        ```python
        df = run.history(samples=200, keys=["loss"])
        rows = run.history(pandas=False)
        ```
        """
        if pandas:
            return history_frame(
                self._ctx, self._path, samples=samples, keys=keys, x_axis=x_axis, stream=stream
            )
        return fetch_history(
            self._ctx, self._path, samples=samples, keys=keys, x_axis=x_axis, stream=stream
        )

    def scan_history(
        self,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> HistoryScan:
        """Every history row in `[min_step, max_step)`, read lazily `page_size` steps at a time.

        ```python
        losses = [row["loss"] for row in run.scan_history(keys=["loss"])]
        ```
        """
        return HistoryScan(
            self._ctx,
            self._path,
            keys=keys,
            page_size=page_size,
            min_step=min_step,
            max_step=max_step,
        )

    # -- files ----------------------------------------------------------------------------

    def files(
        self, names: list[str] | None = None, pattern: str | None = None, per_page: int = 50
    ) -> Paginator[File]:
        """The run's files, lazily paginated; `len()` from the server's file count.

        `names` keeps only those names; `pattern` is a glob (`*.json`, `media/*`; `*` and
        `?` as in `fnmatch`, case-sensitive) or, without `*` and `?`, SQL LIKE as W&B
        takes it (`%.json`).

        ```python
        for f in run.files(pattern="*.png"):
            f.download(root="images")
        ```
        """
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"names must be a list of str, not {names!r}")
        return Paginator(
            lambda first, after: run_files.files_page(
                self._ctx, self._path, first, after, names=names, pattern=pattern
            ),
            per_page=per_page,
            description=f"files of {self._path}",
        )

    def file(self, name: str) -> File:
        """The file `name` of the run (`RunFileNotFoundError` when absent).

        ```python
        meta = run.file("wandb-metadata.json")
        ```
        """
        page = run_files.files_page(self._ctx, self._path, 50, None, names=[name], pattern=None)
        for item in page.items:
            if item.name == name:
                return item
        raise RunFileNotFoundError(f"run {self._path} has no file {name!r}")

    def upload_file(self, path: str | os.PathLike[str], root: str | os.PathLike[str] = ".") -> File:
        """Upload a local file; its name in the run is `path` relative to `root`.

        ```python
        run.upload_file("out/model.txt", root="out")   # stored as "model.txt"
        ```
        """
        local = Path(path)
        name = run_files.upload_name(local, Path(root))
        run_files.upload(self._ctx, self._path, name, local.read_bytes())
        if name == run_files.METADATA_FILE:
            self._metadata_loaded = False
        return self.file(name)

    # -- artifacts ------------------------------------------------------------------------

    def logged_artifacts(self, per_page: int = 100) -> Paginator[Artifact]:
        """Artifacts this run logged (outputs), lazily paginated.

        ```python
        names = [a.name for a in run.logged_artifacts()]
        ```
        """
        return Paginator(
            lambda first, after: run_artifacts.artifacts_page(
                self._ctx, self._path, "logged", first, after
            ),
            per_page=per_page,
            description=f"artifacts logged by {self._path}",
        )

    def used_artifacts(self, per_page: int = 100) -> Paginator[Artifact]:
        """Artifacts this run used (inputs), lazily paginated."""
        return Paginator(
            lambda first, after: run_artifacts.artifacts_page(
                self._ctx, self._path, "used", first, after
            ),
            per_page=per_page,
            description=f"artifacts used by {self._path}",
        )

    def log_artifact(
        self,
        artifact: ArtifactSpec,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
        *,
        progress: bool | None = None,
        max_workers: int = UPLOAD_WORKERS,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> Artifact:
        """Log a new artifact version as an output of this run and return it committed.

        Runs W&B's sequence: hash the spec's files, `createArtifact` with the logical
        manifest digest, upload only the bytes the server does not store yet
        (`max_workers` at a time, files from `multipart_threshold` bytes in `part_size`
        parts, a progress bar in bytes on a terminal unless `progress=False`), upload the
        manifest, `commitArtifact`. Logging the same files again returns the existing
        version. `latest` is always among the aliases, as W&B does.

        ```python
        spec = ArtifactSpec("model", "model", metadata={"acc": 0.9})
        spec.add_dir("checkpoints")
        a = run.log_artifact(spec, aliases=["best"])
        a.version, a.digest, a.size, a.file_count
        ```
        """
        options = UploadOptions(
            workers=max_workers,
            progress=progress,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
        )
        return run_artifacts.log(self._ctx, self._path, artifact, aliases, tags, options)

    def use_artifact(self, artifact: Artifact | str, use_as: str | None = None) -> Artifact:
        """Record that this run used `artifact` (an `Artifact` or its path).

        ```python
        run.use_artifact("alice/mnist/dataset:latest")
        ```
        """
        return run_artifacts.use(self._ctx, self._path, artifact, use_as)
