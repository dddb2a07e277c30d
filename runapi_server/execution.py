"""GraphQL execution with a fast path for long lists of strings (history pages).

graphql-core completes every list item through ``complete_value`` (path objects,
type checks, the scalar's ``serialize``): about 20 us per item, so a 10,000-row
``history`` page spent most of its server time there. :class:`FastListExecutionContext`
returns a list of ``str`` as it is when the item type is the built-in ``String`` or
``ID`` scalar, nullable or not. That is exactly what the general path computes
(``serialize`` of a ``str`` is the ``str`` itself, and a ``str`` is never null);
any other list, or one holding a non-``str`` item, takes the general path.

Both supported graphql-core lines are handled: 3.2 calls the class an
``ExecutionContext``, 3.3 an ``Executor`` whose ``complete_list_value`` takes one more
argument (passed through unchanged). ariadne's ``graphql_sync`` maps its
``execution_context_class`` argument to whichever graphql-core expects.

```python
graphql_sync(schema, data, execution_context_class=FastListExecutionContext)
```
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLID,
    GraphQLList,
    GraphQLOutputType,
    GraphQLString,
    is_non_null_type,
)

try:  # graphql-core 3.2
    from graphql.execution import ExecutionContext as _Base
except ImportError:  # graphql-core 3.3 renamed it
    from graphql import Executor as _Base  # type: ignore[attr-defined,no-redef]


def _str_scalar(item_type: GraphQLOutputType) -> bool:
    """Whether items of this type complete to themselves when they are ``str``."""
    inner: Any = item_type
    if is_non_null_type(inner):
        inner = inner.of_type
    return inner is GraphQLString or inner is GraphQLID


def is_plain_string_list(return_type: GraphQLList[GraphQLOutputType], result: object) -> bool:
    """Whether ``result`` may be returned as it is for a field of ``return_type``."""
    return (
        type(result) is list
        and bool(result)
        and _str_scalar(return_type.of_type)
        and set(map(type, result)) == {str}
    )


class FastListExecutionContext(_Base):
    """An execution context completing lists of ``str`` in one C-level pass."""

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_nodes: Any,
        info: Any,
        path: Any,
        result: Any,
        *rest: Any,
    ) -> Any:
        if is_plain_string_list(return_type, result):
            return result
        return super().complete_list_value(return_type, field_nodes, info, path, result, *rest)
