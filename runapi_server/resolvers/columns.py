"""GraphQL fields that are a stored column as it is: one binding for every object type.

```python
bind_columns(run_type, {"displayName": "display_name", "state": "state"})
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from runapi_server.fast_execution import needs_no_info
from runapi_server.storage.connection import Row


def _column_resolver(column: str) -> Any:
    @needs_no_info
    def resolve(obj: Row, _info: GraphQLResolveInfo | None) -> Any:
        return obj[column]

    return resolve


def bind_columns(object_type: ObjectType, fields: Mapping[str, str]) -> None:
    """Resolve each field of ``fields`` (GraphQL name -> column) to the parent row's column."""
    for field, column in fields.items():
        object_type.set_field(field, _column_resolver(column))
