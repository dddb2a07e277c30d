"""`Run`: one W&B run, read and written through the GraphQL API."""

from __future__ import annotations

import copy
import importlib
import os
import secrets
import string
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlencode

from . import _run_artifacts as run_artifacts
from . import _run_files as run_files
from ._artifact_upload import MULTIPART_THRESHOLD, PART_SIZE, UPLOAD_WORKERS, UploadOptions
from ._artifacts import Artifact, ArtifactSpec
from ._context import Context
from ._exceptions import RunFileNotFoundError, WaitTimeoutError
from ._files import File
from ._history import HistoryScan, Stream, fetch_history, rows_to_dataframe
from ._http import MUTATION
from ._json import dumps, loads_object, same_value
from ._lookup import require_run
from ._pagination import Paginator
from ._paths import RunPath
from ._run_fields import (
    HIDDEN_CONFIG_KEYS,
    EditableField,
    changes_input,
    diff,
    field_values,
    optional_str,
    str_list,
    unwrap_config,
)

if TYPE_CHECKING:
    import pandas
    from runapi_generated.fragments import RunFields

    from ._api import Api

RUN_STATES = frozenset(
    {"running", "pending", "finished", "failed", "crashed", "killed", "preempted", "preempting"}
)
"""Every run state W&B knows."""
TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "killed", "preempted"})
"""States after which a run does not change state again."""
METADATA_FILE = "wandb-metadata.json"

_RUN_ID_ALPHABET = string.ascii_lowercase + string.digits


def generate_run_id() -> str:
    """A new run id: 8 random lowercase alphanumerics, like W&B's."""
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(8))


class Run:
    """A W&B run.

    Get one with `api.run("entity/project/run_id")`, from `api.runs(...)`, or create one
    with `Run.create(api, project="p")`. Attributes are loaded once (`load(force=True)`
    reloads); edit `name`, `tags`, `notes`, `group`, `job_type`, `description`, `config`
    and `summary`, then `update()` writes exactly those changes.

    ```python
    run = api.run("alice/mnist/1a2b3c4d")
    run.config["lr"] = 0.01
    run.summary["best"] = 0.93
    run.tags.append("baseline")
    run.update()
    ```
    """

    def __init__(self, ctx: Context, path: RunPath, fields: RunFields | None = None) -> None:
        """Wrap a run; no I/O (attributes load on first use)."""
        self._ctx = ctx
        self._path = path
        self._fields: RunFields | None = None
        self._raw_config: dict[str, Any] = {}
        self._config: dict[str, Any] = {}
        self._config_base: dict[str, Any] = {}
        self._summary: dict[str, Any] = {}
        self._summary_base: dict[str, Any] = {}
        self._values: dict[str, Any] = {}
        self._values_base: dict[str, Any] = {}
        self._system_metrics: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None
        self._metadata_loaded = False
        if fields is not None:
            self._apply(fields)

    # -- loading -----------------------------------------------------------------------

    def _apply(self, fields: RunFields) -> None:
        self._fields = fields
        if fields.project is not None:
            self._path = RunPath(fields.project.entity_name, fields.project.name, fields.name)
        self._raw_config = loads_object(fields.config, "run config")
        self._config = unwrap_config(self._raw_config)
        self._config_base = copy.deepcopy(self._config)
        self._summary = loads_object(fields.summary_metrics, "run summary")
        self._summary_base = copy.deepcopy(self._summary)
        self._values = field_values(fields)
        self._values_base = copy.deepcopy(self._values)
        self._system_metrics = None

    def _fetch(self) -> RunFields:
        client = self._ctx.gql.client
        project = self._ctx.gql.call(
            client.get_run, self._path.entity, self._path.project, self._path.run_id
        )
        return require_run(project, self._path)

    def load(self, force: bool = False) -> None:
        """Fetch the run's attributes (again when `force`; local edits are dropped then).

        ```python
        run.load(force=True)
        ```
        """
        if self._fields is None or force:
            self._apply(self._fetch())
            self._metadata_loaded = False
            self._metadata = None

    def _loaded(self) -> RunFields:
        if self._fields is None:
            self.load()
        assert self._fields is not None
        return self._fields

    # -- identity ----------------------------------------------------------------------

    @property
    def entity(self) -> str:
        """The entity (user or team) owning the run."""
        return self._path.entity

    @property
    def project(self) -> str:
        """The project name."""
        return self._path.project

    @property
    def id(self) -> str:
        """The run id (`1a2b3c4d`), the last part of the run's path."""
        return self._path.run_id

    @property
    def path(self) -> list[str]:
        """`[entity, project, run_id]`, as W&B returns it."""
        return [self._path.entity, self._path.project, self._path.run_id]

    @property
    def storage_id(self) -> str:
        """The server's opaque id of the run (GraphQL `Run.id`)."""
        return self._loaded().id

    @property
    def url(self) -> str:
        """The run's web page, `{app_url}/{entity}/{project}/runs/{run_id}`."""
        app_url = self._ctx.settings.app_url
        return f"{app_url}/{self.entity}/{self.project}/runs/{self.id}"

    @property
    def username(self) -> str:
        """Deprecated: the entity (W&B's old name for it)."""
        warnings.warn(
            "Run.username is deprecated; use Run.entity", DeprecationWarning, stacklevel=2
        )
        return self.entity

    # -- editable fields ---------------------------------------------------------------

    def _value(self, name: str) -> Any:
        self._loaded()
        return self._values[name]

    def _set_value(self, name: str, value: Any) -> None:
        self._loaded()
        self._values[name] = value

    @property
    def name(self) -> str:
        """Display name (settable; falls back to the run id)."""
        value = self._value("display_name")
        return value if isinstance(value, str) and value else self.id

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str):
            raise ValueError(f"name must be a str, not {value!r}")
        self._set_value("display_name", value)

    @property
    def display_name(self) -> str | None:
        """The display name as stored (None when unset)."""
        value = self._value("display_name")
        return value if isinstance(value, str) else None

    tags = EditableField[list[str]]("tags", str_list("tags"))
    """Tags (a list you may edit in place, or assign)."""
    notes = EditableField[str | None]("notes", optional_str("notes"))
    """Notes (settable)."""
    group = EditableField[str | None]("group", optional_str("group"))
    """Group (settable)."""
    job_type = EditableField[str | None]("job_type", optional_str("job_type"))
    """Job type (settable)."""
    description = EditableField[str | None]("description", optional_str("description"))
    """Description (settable)."""

    # -- read-only attributes ------------------------------------------------------------

    @property
    def state(self) -> str:
        """`running`, `finished`, `failed`, `crashed`, `killed`, `preempted`, ..."""
        return self._loaded().state or "unknown"

    @property
    def created_at(self) -> datetime:
        """Creation time (UTC, naive)."""
        return self._loaded().created_at

    @property
    def updated_at(self) -> datetime | None:
        """Last update (UTC, naive)."""
        return self._loaded().updated_at

    @property
    def heartbeat_at(self) -> datetime | None:
        """Last heartbeat (UTC, naive)."""
        return self._loaded().heartbeat_at

    @property
    def commit(self) -> str | None:
        """Git commit."""
        return self._loaded().commit

    @property
    def host(self) -> str | None:
        """Host the run ran on."""
        return self._loaded().host

    @property
    def sweep_name(self) -> str | None:
        """Sweep the run belongs to."""
        return self._loaded().sweep_name

    @property
    def read_only(self) -> bool:
        """Whether the key may not write the run."""
        return bool(self._loaded().read_only)

    @property
    def config(self) -> dict[str, Any]:
        """The config, unwrapped (`{"lr": 0.01}`); edit it and call `update()`.

        W&B's internal keys `_wandb` and `wandb_version` are hidden.
        """
        self._loaded()
        return self._config

    @property
    def json_config(self) -> str:
        """The config as W&B stores it: JSON of `{key: {"value": v, "desc": d}}`."""
        self._loaded()
        wrapped: dict[str, Any] = {
            k: v for k, v in self._raw_config.items() if k in HIDDEN_CONFIG_KEYS
        }
        for key, value in self._config.items():
            old = self._raw_config.get(key)
            desc = old.get("desc") if isinstance(old, dict) else None
            wrapped[key] = {"value": value, "desc": desc}
        return dumps(wrapped)

    @property
    def summary(self) -> dict[str, Any]:
        """The summary metrics (a mutable mapping); edit it and call `update()`."""
        self._loaded()
        return self._summary

    @property
    def system_metrics(self) -> dict[str, Any]:
        """The latest system metrics (`{}` when none)."""
        fields = self._loaded()
        if self._system_metrics is None:
            self._system_metrics = loads_object(fields.system_metrics, "run systemMetrics")
        return self._system_metrics

    @property
    def lastHistoryStep(self) -> int:
        """The last logged history step, -1 when there is no history."""
        keys = self._loaded().history_keys
        if isinstance(keys, dict):
            last = keys.get("lastStep")
            if isinstance(last, int | float) and not isinstance(last, bool):
                return int(last)
        return -1

    @property
    def history_line_count(self) -> int:
        """Number of history rows."""
        return self._loaded().history_line_count or 0

    @property
    def metadata(self) -> dict[str, Any] | None:
        """`wandb-metadata.json` of the run (host, python, git, ...), None when absent.

        Downloaded once and cached (`load(force=True)` clears it).
        """
        if not self._metadata_loaded:
            page = run_files.files_page(
                self._ctx, self._path, 1, None, names=[METADATA_FILE], pattern=None
            )
            found = [f for f in page.items if f.name == METADATA_FILE]
            if found:
                content = found[0].read_bytes()
                self._metadata = loads_object(content.decode("utf-8"), METADATA_FILE)
            else:
                self._metadata = None
            self._metadata_loaded = True
        return self._metadata

    # -- creating, updating, deleting ---------------------------------------------------

    @classmethod
    def create(
        cls,
        api: Api,
        run_id: str | None = None,
        project: str | None = None,
        entity: str | None = None,
        state: str = "running",
    ) -> Run:
        """Create a run (project created with it) and return it: W&B's form of
        `api.create_run(...)`, which it calls.

        ```python
        run = Run.create(api, project="mnist")
        ```
        """
        return api.create_run(run_id, project=project, entity=entity, state=state)

    def update(self) -> None:
        """Write what changed since the last load: fields, config and summary keys.

        Re-reads the run first and applies only your changes on top, so keys that
        someone else changed meanwhile are kept. One `upsertBucket` call.

        ```python
        run.config["epochs"] = 20
        del run.summary["tmp"]
        run.update()
        ```
        """
        self._loaded()
        fields = {k: v for k, v in self._values.items() if not same_value(v, self._values_base[k])}
        config = diff(self._config, self._config_base)
        summary = diff(self._summary, self._summary_base)
        if not (fields or any(config) or any(summary)):
            return
        data = changes_input(self._fetch(), fields, config, summary)
        from runapi_generated.input_types import UpsertBucketInput

        result = self._ctx.gql.call(
            self._ctx.gql.client.upsert_run,
            input=UpsertBucketInput.model_validate(data),
            extensions=MUTATION,
        )
        bucket = result.bucket if result is not None else None
        self._apply(bucket if bucket is not None else self._fetch())

    def save(self) -> None:
        """Same as `update()`."""
        self.update()

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run (and the artifacts it logged when `delete_artifacts`).

        ```python
        run.delete()
        ```
        """
        from runapi_generated.input_types import DeleteRunInput

        self._ctx.gql.call(
            self._ctx.gql.client.delete_run,
            input=DeleteRunInput.model_validate(
                {"id": self.storage_id, "deleteArtifacts": delete_artifacts}
            ),
            extensions=MUTATION,
        )

    def wait_until_finished(self, timeout: float | None = None, poll_interval: float = 5.0) -> str:
        """Poll until the run reaches a terminal state and return that state.

        Terminal: finished, failed, crashed, killed, preempted. Raises `WaitTimeoutError`
        when `timeout` seconds pass first (None: wait without bound).

        ```python
        state = run.wait_until_finished(timeout=600, poll_interval=10)
        ```
        """
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0, not {poll_interval!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self._ctx.gql.client
        while True:
            state_run = require_run(
                self._ctx.gql.call(client.get_run_state, self.entity, self.project, self.id),
                self._path,
            )
            state = state_run.state or "unknown"
            if state in TERMINAL_STATES:
                self.load(force=True)
                return state
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeoutError(f"run {self._path} is still {state!r} after {timeout}s")
                time.sleep(min(poll_interval, remaining))
            else:
                time.sleep(poll_interval)

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
        rows = fetch_history(
            self._ctx, self._path, samples=samples, keys=keys, x_axis=x_axis, stream=stream
        )
        return rows_to_dataframe(rows) if pandas else rows

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
        if name == METADATA_FILE:
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

    # -- display ---------------------------------------------------------------------------

    @staticmethod
    def snake_to_camel(string: str) -> str:
        """`job_type` -> `jobType`.

        ```python
        >>> Run.snake_to_camel("heartbeat_at")
        'heartbeatAt'
        ```
        """
        head, *rest = string.split("_")
        return head + "".join(part.title() for part in rest)

    def to_html(self, height: int = 420, hidden: bool = False) -> str:
        """An iframe showing the run's page (`height` pixels high; `hidden` adds
        `display:none`).

        On the local server the page URL carries a short-lived signed `token` (asked from
        the server with the API key), so the browser needs no login; W&B's own pages use
        the browser's W&B login.

        ```python
        html = run.to_html(height=600)
        ```
        """
        from ._html import iframe, page_token

        token = page_token(self._ctx, self._path)
        query = urlencode({"jupyter": "true", **({"token": token} if token else {})})
        return iframe(f"{self.url}?{query}", height, hidden)

    def _repr_html_(self) -> str:
        from ._html import run_table

        return run_table(self)

    def display(self, height: int = 420, hidden: bool = False) -> bool:
        """Show the run in Jupyter; False (nothing shown) when IPython is not installed."""
        try:
            ipy = importlib.import_module("IPython.display")
        except ImportError:
            return False
        # In a <div>: IPython warns about HTML that is a bare <iframe>, though it shows it.
        ipy.display(ipy.HTML(f"<div>{self.to_html(height, hidden)}</div>"))
        return True

    def __repr__(self) -> str:
        state = self._fields.state if self._fields is not None else "not loaded"
        return f"<Run {self._path} ({state})>"
