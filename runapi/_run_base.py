"""`RunBase`: what every part of a `Run` stands on: its context and path, its attributes
loaded once (and again on `load(force=True)`), and its identity (entity, project, id)."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

from ._bulk import RunRef
from ._context import Context
from ._json import loads_object
from ._lookup import require_run
from ._paths import RunPath
from ._run_fields import field_values, unwrap_config

if TYPE_CHECKING:
    from runapi_generated.fragments import RunFields


class RunBase:
    """The loading and identity of a run; `Run` builds on it (see `runapi.Run`)."""

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

    def _value(self, name: str) -> Any:
        self._loaded()
        return self._values[name]

    def _set_value(self, name: str, value: Any) -> None:
        self._loaded()
        self._values[name] = value


def run_ref(run: RunBase) -> RunRef:
    """What the bulk history fetch needs of `run`: the `Api` context it reads through and
    its path."""
    return RunRef(run._ctx, run._path.entity, run._path.project, run._path.run_id)
