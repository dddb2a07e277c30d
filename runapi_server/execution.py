"""GraphQL execution with a fast path for long lists of strings (history pages).

graphql-core completes every list item through ``complete_value`` (path objects,
type checks, the scalar's ``serialize``): about 20 us per item, so a 10,000-row
``history`` page spent most of its server time there. :class:`FastListExecutionContext`
returns a list of ``str`` as it is when the item type is the built-in ``String`` or
``ID`` scalar, nullable or not. That is exactly what the general path computes
(``serialize`` of a ``str`` is the ``str`` itself, and a ``str`` is never null);
any other list, or one holding a non-``str`` item, takes the general path.

```python
graphql_sync(schema, data, execution_context_class=FastListExecutionContext)
```
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from graphql import (
    GraphQLID,
    GraphQLList,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    is_non_null_type,
)
from graphql.execution import ExecutionContext
from graphql.language import FieldNode
from graphql.pyutils import AwaitableOrValue, Path


def _str_scalar(item_type: GraphQLOutputType) -> bool:
    """Whether items of this type complete to themselves when they are ``str``."""
    inner: Any = item_type
    if is_non_null_type(inner):
        inner = inner.of_type
    return inner is GraphQLString or inner is GraphQLID


class FastListExecutionContext(ExecutionContext):
    """An execution context completing lists of ``str`` in one C-level pass."""

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
    ) -> AwaitableOrValue[list[Any]]:
        if (
            type(result) is list
            and result
            and _str_scalar(return_type.of_type)
            and set(map(type, result)) == {str}
        ):
            return result
        return super().complete_list_value(return_type, field_nodes, info, path, result)
