"""One history request each: `GetRunHistory` row texts and one `sampledHistory` spec's
rows, with only their envelope checked; and the argument checks history calls share.

```python
texts = history_texts(ctx, path, samples=500, min_step=None, max_step=None)
rows = sampled_rows(ctx, path, dumps({"keys": ["loss", "_step"], "samples": 500}))
```
"""

from __future__ import annotations

from typing import Any

from ._context import Context
from ._exceptions import ResponseValidationError, RunNotFoundError
from ._json import row_objects
from ._paths import RunPath


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, not {value!r}")
    return value


def check_keys(keys: object) -> list[str] | None:
    """`None` or a list of str; anything else is a `ValueError`."""
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"keys must be a list of non-empty str, not {keys!r}")
    return list(keys)


def spec_keys(keys: list[str], x_axis: str) -> list[str]:
    return keys if x_axis in keys else [*keys, x_axis]


def run_field(data: dict[str, Any], path: RunPath, operation: str, name: str) -> Any:
    """``data.project.run.<name>`` of a lean answer, checking only the envelope."""
    project = data.get("project")
    if project is not None and not isinstance(project, dict):
        raise ResponseValidationError(f"GraphQL {operation}: project is not an object")
    run = project.get("run") if project is not None else None
    if run is None:
        raise RunNotFoundError(f"run {path} not found")
    if not isinstance(run, dict):
        raise ResponseValidationError(f"GraphQL {operation}: run is not an object")
    return run.get(name)


def history_texts(
    ctx: Context, path: RunPath, samples: int, min_step: int | None, max_step: int | None
) -> list[str]:
    """The row texts of `GetRunHistory`, with only its envelope checked (no pydantic
    pass over hundreds or thousands of strings)."""
    from runapi_generated.operations import GET_RUN_HISTORY_GQL

    variables: dict[str, object] = {
        "entity": path.entity,
        "project": path.project,
        "name": path.run_id,
        "samples": samples,
    }
    if min_step is not None:
        variables["minStep"] = min_step
    if max_step is not None:
        variables["maxStep"] = max_step
    data = ctx.gql.data(GET_RUN_HISTORY_GQL, "GetRunHistory", variables)
    texts = run_field(data, path, "get_run_history", "history")
    if not isinstance(texts, list) or not set(map(type, texts)) <= {str}:
        raise ResponseValidationError("GraphQL get_run_history: history is not a list of str")
    return texts


def sampled_rows(ctx: Context, path: RunPath, spec: str) -> list[dict[str, Any]]:
    """The rows of one `sampledHistory` spec, with only the envelope checked."""
    from runapi_generated.operations import GET_RUN_SAMPLED_HISTORY_GQL

    variables: dict[str, object] = {
        "entity": path.entity,
        "project": path.project,
        "name": path.run_id,
        "specs": [spec],
    }
    data = ctx.gql.data(GET_RUN_SAMPLED_HISTORY_GQL, "GetRunSampledHistory", variables)
    sampled = run_field(data, path, "get_run_sampled_history", "sampledHistory")
    if sampled is not None and not isinstance(sampled, list):
        raise ResponseValidationError("GraphQL get_run_sampled_history: not a list")
    return row_objects(sampled[0] if sampled else [])
