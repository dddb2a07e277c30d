"""`Api`: the entry point, holding settings and the HTTP client."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ._artifacts import Artifact, fetch_artifact
from ._config import resolve_settings
from ._context import Context
from ._exceptions import AuthenticationError, ResponseValidationError
from ._graphql import GraphQL
from ._http import MUTATION, build_client
from ._paths import RunPath, parse_project_path, parse_run_path
from ._run import RUN_STATES, Run, generate_run_id
from ._runs import Runs
from .filters import Filter


@dataclass(frozen=True)
class Viewer:
    """The user the API key belongs to."""

    id: str
    name: str
    username: str | None
    entity: str | None
    email: str | None


class Api:
    """The W&B run API.

    Settings come from the arguments, else `WANDB_API_KEY` / `WANDB_BASE_URL`, else
    `~/.netrc` for the host (key only), else `https://api.wandb.ai`. The constructor does
    no I/O; a missing key raises `ConfigurationError` saying how to set one.
    `timeout` bounds each read (seconds); `deadline` bounds a whole call: connecting,
    retries and reading the answer together (None: no total deadline; file downloads
    have none, only `timeout`). Past it the call raises `APITimeoutError`.
    `transport` replaces the HTTP transport (the one I/O seam; retries wrap it);
    `sleep` is how a retry waits its backoff (default `time.sleep`; tests pass a recorder).

    ```python
    import runapi

    with runapi.Api() as api:
        run = api.run("alice/mnist/1a2b3c4d")
        print(run.name, run.summary.get("loss"))
    ```
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        deadline: float | None = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, not {max_retries!r}")
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if deadline is not None and (not isinstance(deadline, int | float) or deadline <= 0):
            raise ValueError(
                f"deadline must be a positive number of seconds or None, not {deadline!r}"
            )
        settings = resolve_settings(api_key, base_url)
        http = build_client(
            settings,
            timeout=float(timeout),
            max_retries=max_retries,
            deadline=None if deadline is None else float(deadline),
            transport=transport,
            sleep=sleep,
        )
        self._ctx = Context(settings=settings, http=http, gql=GraphQL(http))
        self._viewer: Viewer | None = None

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. `https://api.wandb.ai`."""
        return self._ctx.settings.base_url

    @property
    def app_url(self) -> str:
        """The web app URL used for run URLs, e.g. `https://wandb.ai`."""
        return self._ctx.settings.app_url

    def viewer(self) -> Viewer:
        """The user of the API key (`AuthenticationError` when the key is not accepted).

        ```python
        api.viewer().entity
        ```
        """
        if self._viewer is None:
            found = self._ctx.gql.call(self._ctx.gql.client.get_viewer)
            if found is None:
                raise AuthenticationError("the server does not know this API key", status_code=401)
            self._viewer = Viewer(
                id=found.id,
                name=found.name,
                username=found.username,
                entity=found.entity,
                email=found.email,
            )
        return self._viewer

    @property
    def default_entity(self) -> str:
        """The key's default entity (asks the server once)."""
        viewer = self.viewer()
        return viewer.entity or viewer.username or viewer.name

    def run(self, path: str) -> Run:
        """The run at `entity/project/run_id`, `entity/project/runs/run_id` or a run URL.

        Raises `ValueError` for a malformed path, `RunNotFoundError` for a missing run.

        ```python
        run = api.run("https://wandb.ai/alice/mnist/runs/1a2b3c4d")
        ```
        """
        run = Run(self._ctx, parse_run_path(path))
        run.load()
        return run

    def create_run(
        self,
        run_id: str | None = None,
        *,
        project: str | None = None,
        entity: str | None = None,
        state: str = "running",
    ) -> Run:
        """Create a run (its project with it) and return it.

        `run_id` defaults to 8 random lowercase alphanumerics, `project` to
        `uncategorized`, `entity` to the key's default entity. W&B's `Run.create(api, ...)`
        does the same.

        ```python
        run = api.create_run(project="mnist")
        run.config["lr"] = 0.01
        run.update()
        ```
        """
        from runapi_generated.input_types import UpsertBucketInput

        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {sorted(RUN_STATES)}, not {state!r}")
        for label, value in (("run_id", run_id), ("project", project), ("entity", entity)):
            if value is not None and (
                not isinstance(value, str) or not value or any(c in value for c in "/: ")
            ):
                raise ValueError(f"{label} must be a non-empty str without '/', ':' or spaces")
        path = RunPath(
            entity if entity is not None else self.default_entity,
            project if project is not None else "uncategorized",
            run_id if run_id is not None else generate_run_id(),
        )
        created = UpsertBucketInput(
            entity_name=path.entity, model_name=path.project, name=path.run_id, state=state
        )
        result = self._ctx.gql.call(
            self._ctx.gql.client.upsert_run, input=created, extensions=MUTATION
        )
        if result is None or result.bucket is None:
            raise ResponseValidationError(f"upsertBucket returned no run for {path}")
        return Run(self._ctx, path, result.bucket)

    def runs(
        self,
        path: str,
        filters: Filter | Mapping[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
    ) -> Runs:
        """The runs of project `entity/project` (lazy; no request until used).

        `filters` is a typed filter from `runapi.filters` (`Config("lr") > 0.01`) or W&B's
        MongoDB-style dict (`{"config.lr": {"$gt": 0.01}}`); `order` is `+field` / `-field`.

        ```python
        from runapi.filters import Config, State

        for run in api.runs("alice/mnist", filters=(State == "finished") & (Config("lr") > 0.01)):
            print(run.id)
        ```
        """
        entity, project = parse_project_path(path)
        return Runs(self._ctx, entity, project, filters=filters, order=order, per_page=per_page)

    def artifact(self, path: str) -> Artifact:
        """The artifact version `entity/project/name:version_or_alias`.

        ```python
        dataset = api.artifact("alice/mnist/mnist:latest")
        ```
        """
        return fetch_artifact(self._ctx, path)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._ctx.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Api {self.base_url}>"
