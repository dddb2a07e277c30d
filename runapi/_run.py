"""`Run`: one W&B run, read and written through the GraphQL API."""

from __future__ import annotations

import copy
import importlib
import os
import secrets
import string
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlencode

from . import _run_artifacts as run_artifacts
from . import _run_files as run_files
from ._artifacts import Artifact, ArtifactSpec
from ._context import Context
from ._exceptions import ResponseValidationError, RunFileNotFoundError, WaitTimeoutError
from ._files import File
from ._history import HistoryScan, Stream, fetch_history, history_frame
from ._http import MUTATION
from ._json import dumps, loads_object, same_value
from ._lookup import require_run
from ._pagination import Paginator
from ._paths import RunPath

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
HIDDEN_CONFIG_KEYS = frozenset({"_wandb", "wandb_version"})
METADATA_FILE = "wandb-metadata.json"

_RUN_ID_ALPHABET = string.ascii_lowercase + string.digits

# Editable run fields: facade attribute -> UpsertBucketInput field (by alias).
_FIELD_INPUTS = {
    "display_name": "displayName",
    "tags": "tags",
    "notes": "notes",
    "group": "groupName",
    "job_type": "jobType",
    "description": "description",
}


def generate_run_id() -> str:
    """A new run id: 8 random lowercase alphanumerics, like W&B's."""
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(8))


def _unwrap_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in raw.items():
        if key in HIDDEN_CONFIG_KEYS:
            continue
        out[key] = item["value"] if isinstance(item, dict) and "value" in item else item
    return out


def _diff(current: Mapping[str, Any], base: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    changed = {k: v for k, v in current.items() if k not in base or not same_value(v, base[k])}
    return changed, set(base) - set(current)


def _field_values(fields: RunFields) -> dict[str, Any]:
    return {
        "display_name": fields.display_name,
        "tags": list(fields.tags or []),
        "notes": fields.notes,
        "group": fields.group,
        "job_type": fields.job_type,
        "description": fields.description,
    }


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
        self._config = _unwrap_config(self._raw_config)
        self._config_base = copy.deepcopy(self._config)
        self._summary = loads_object(fields.summary_metrics, "run summary")
        self._summary_base = copy.deepcopy(self._summary)
        self._values = _field_values(fields)
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

    @property
    def tags(self) -> list[str]:
        """Tags (a list you may edit in place, or assign)."""
        tags: list[str] = self._value("tags")
        return tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise ValueError(f"tags must be a list of str, not {value!r}")
        self._set_value("tags", list(value))

    @property
    def notes(self) -> str | None:
        """Notes (settable)."""
        notes: str | None = self._value("notes")
        return notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._set_value("notes", value)

    @property
    def group(self) -> str | None:
        """Group (settable)."""
        group: str | None = self._value("group")
        return group

    @group.setter
    def group(self, value: str | None) -> None:
        self._set_value("group", value)

    @property
    def job_type(self) -> str | None:
        """Job type (settable)."""
        job_type: str | None = self._value("job_type")
        return job_type

    @job_type.setter
    def job_type(self, value: str | None) -> None:
        self._set_value("job_type", value)

    @property
    def description(self) -> str | None:
        """Description (settable)."""
        description: str | None = self._value("description")
        return description

    @description.setter
    def description(self, value: str | None) -> None:
        self._set_value("description", value)

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
        """Create a run (project created with it) and return it.

        `run_id` defaults to 8 random lowercase alphanumerics, `project` to
        `uncategorized`, `entity` to the key's default entity.

        ```python
        run = Run.create(api, project="mnist")
        ```
        """
        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {sorted(RUN_STATES)}, not {state!r}")
        for label, value in (("run_id", run_id), ("project", project), ("entity", entity)):
            if value is not None and (
                not isinstance(value, str) or not value or any(c in value for c in "/: ")
            ):
                raise ValueError(f"{label} must be a non-empty str without '/', ':' or spaces")
        ctx = api._ctx
        entity = entity if entity is not None else api.default_entity
        run_id = run_id if run_id is not None else generate_run_id()
        project = project if project is not None else "uncategorized"
        path = RunPath(entity, project, run_id)
        data = {"entityName": entity, "modelName": project, "name": run_id, "state": state}
        from runapi_generated.input_types import UpsertBucketInput

        result = ctx.gql.call(
            ctx.gql.client.upsert_run,
            input=UpsertBucketInput.model_validate(data),
            extensions=MUTATION,
        )
        if result is None or result.bucket is None:
            raise ResponseValidationError(f"upsertBucket returned no run for {path}")
        return cls(ctx, path, result.bucket)

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
        config_set, config_deleted = _diff(self._config, self._config_base)
        summary_set, summary_deleted = _diff(self._summary, self._summary_base)
        if not (fields or config_set or config_deleted or summary_set or summary_deleted):
            return
        fresh = self._fetch()
        data: dict[str, Any] = {"id": fresh.id}
        for name, value in fields.items():
            data[_FIELD_INPUTS[name]] = value
        if config_set or config_deleted:
            raw = loads_object(fresh.config, "run config")
            for key, value in config_set.items():
                old = raw.get(key)
                desc = old.get("desc") if isinstance(old, dict) else None
                raw[key] = {"value": value, "desc": desc}
            for key in config_deleted:
                raw.pop(key, None)
            data["config"] = dumps(raw)
        if summary_set or summary_deleted:
            summary = loads_object(fresh.summary_metrics, "run summary")
            summary.update(summary_set)
            for key in summary_deleted:
                summary.pop(key, None)
            data["summaryMetrics"] = dumps(summary)
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

        `names` keeps only those names; `pattern` is SQL LIKE (`%.json`).

        ```python
        for f in run.files(pattern="%.png"):
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
        )

    def used_artifacts(self, per_page: int = 100) -> Paginator[Artifact]:
        """Artifacts this run used (inputs), lazily paginated."""
        return Paginator(
            lambda first, after: run_artifacts.artifacts_page(
                self._ctx, self._path, "used", first, after
            ),
            per_page=per_page,
        )

    def log_artifact(
        self,
        artifact: ArtifactSpec,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Log a new artifact version as an output of this run.

        `aliases` default to `["latest"]`; the same digest in the same collection is the
        same version.

        ```python
        a = run.log_artifact(ArtifactSpec("model", "model", metadata={"acc": 0.9}),
                             aliases=["best"])
        ```
        """
        return run_artifacts.log(self._ctx, self._path, artifact, aliases, tags)

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
        ipy.display(ipy.HTML(self.to_html(height, hidden)))
        return True

    def __repr__(self) -> str:
        state = self._fields.state if self._fields is not None else "not loaded"
        return f"<Run {self._path} ({state})>"
