"""`Run`: one W&B run, read and written through the GraphQL API."""

from __future__ import annotations

import importlib
import secrets
import string
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import _run_files as run_files
from ._exceptions import WaitTimeoutError
from ._http import MUTATION
from ._json import dumps, loads_object, same_value
from ._lookup import require_run
from ._run_contents import RunContents
from ._run_fields import (
    HIDDEN_CONFIG_KEYS,
    EditableField,
    changes_input,
    diff,
    optional_str,
    str_list,
)

if TYPE_CHECKING:
    from ._api import Api

RUN_STATES = frozenset(
    {"running", "pending", "finished", "failed", "crashed", "killed", "preempted", "preempting"}
)
"""Every run state W&B knows."""
TERMINAL_STATES = frozenset({"finished", "failed", "crashed", "killed", "preempted"})
"""States after which a run does not change state again."""

_RUN_ID_ALPHABET = string.ascii_lowercase + string.digits


def generate_run_id() -> str:
    """A new run id: 8 random lowercase alphanumerics, like W&B's."""
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(8))


class Run(RunContents):
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

    # -- editable fields ---------------------------------------------------------------

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
                self._ctx, self._path, 1, None, names=[run_files.METADATA_FILE], pattern=None
            )
            found = [f for f in page.items if f.name == run_files.METADATA_FILE]
            if found:
                content = found[0].read_bytes()
                self._metadata = loads_object(content.decode("utf-8"), run_files.METADATA_FILE)
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
