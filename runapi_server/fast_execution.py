"""A fast path for queries: the general executor's steps without its per-field overhead.

graphql-core completes every field of every object through ``execute_field`` and
``complete_value``: field lookup, argument coercion, awaitable checks, error wrapping,
type dispatch, for each of the 7,000 fields of a 1,000-run table page (most of the
server's time for it). :class:`FastQueryExecutionContext` executes a query operation
with the same steps in a tighter loop: for each field, the same resolver gets the same
arguments and a ``GraphQLResolveInfo`` built the same way (with its path), and the value
is completed by the same rules (non-null, lists, ``serialize`` of scalars and enums,
``is_type_of``, the subfields graphql-core itself collects, fragments and directives
included). What differs is only what is computed once: a field's definition, resolver,
arguments and completion plan are kept per selection, as the variables are fixed for
the request; and what nothing reads is not built: a leaf field resolved by the default
resolver from a dict, or by a resolver registered with :func:`needs_no_info` (it never
reads its ``info``), gets no ``GraphQLResolveInfo`` and no path, and an object's
completion builds the ``info`` only for a type with ``is_type_of``.

Anything it does not handle the way graphql-core does, it refuses, and the request goes
the general way from the start: mutations, middleware, interfaces and unions,
introspection fields other than ``__typename``, awaitables, and every error (a resolver
raising, a null in a non-null field, a value ``serialize`` rejects). The response budget
charged by the attempt is given back first, so the general path reports errors exactly
as it would have. So a response is the general path's, byte for byte (a test compares
both on the same data, errors included).

Used only with graphql-core 3.2 (3.3's executor differs); with 3.3 every request takes
the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationType,
    default_field_resolver,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    version_info,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, is_iterable

from runapi_server.execution import FastListExecutionContext, is_plain_string_list

try:  # graphql-core 3.2
    from graphql.execution.execute import get_field_def
except ImportError:  # pragma: no cover - 3.3: the fast path is off
    get_field_def = None  # type: ignore[assignment]

ENABLED = version_info < (3, 3) and get_field_def is not None


class Refused(Exception):
    """The fast path does not handle this request (the general path runs instead)."""


Complete = Callable[[Any, Any, Path], Any]
"""Completes a resolved value: ``complete(value, info, path)``."""

Resolver = TypeVar("Resolver", bound=Callable[..., Any])

_NO_INFO: set[Callable[..., Any]] = set()


def needs_no_info(resolver: Resolver) -> Resolver:
    """Register ``resolver`` as one that never reads its ``info`` argument: the fast path
    calls it with ``None`` for leaf fields (see the module doc)."""
    _NO_INFO.add(resolver)
    return resolver


def _leaf_completer(return_type: GraphQLOutputType) -> Callable[[Any], Any] | None:
    """``complete_value`` of a leaf type (nullable or not) without ``info`` and path: the
    serialized value, ``Refused`` where the general path would report an error; None
    when ``return_type`` is not a leaf type."""
    required = is_non_null_type(return_type)
    inner: Any = return_type.of_type if required else return_type  # type: ignore[union-attr]
    if not is_leaf_type(inner):
        return None
    leaf: GraphQLLeafType = inner
    serialize = leaf.serialize

    def complete_leaf(value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if required:
                raise Refused("null in a non-null field")
            return None
        serialized = serialize(value)
        if serialized is Undefined or serialized is None:
            raise Refused("serialize refused the value")
        return serialized

    return complete_leaf


def _completion_reads_info(return_type: GraphQLOutputType) -> bool:
    """Whether completing a value of ``return_type`` reads ``info`` (an object type's
    ``is_type_of``, through any lists and non-nulls)."""
    inner: Any = return_type
    while is_non_null_type(inner) or is_list_type(inner):
        inner = inner.of_type
    return is_object_type(inner) and inner.is_type_of is not None


class _Field:
    """What a selected field needs, computed once per selection: definition, resolver,
    argument values (the variables are fixed for the request), and the completion of its
    values compiled for its type."""

    __slots__ = (
        "args",
        "complete",
        "complete_leaf",
        "default",
        "definition",
        "name",
        "nodes",
        "reads_info",
        "resolve",
    )

    def __init__(
        self, context: FastQueryExecutionContext, parent: GraphQLObjectType, nodes: list[Any]
    ) -> None:
        name = nodes[0].name.value
        if name.startswith("__") and name != "__typename":
            raise Refused(name)
        definition = get_field_def(context.schema, parent, nodes[0])
        if not definition:
            raise Refused(name)
        self.definition = definition
        self.nodes = nodes
        self.resolve: Callable[..., Any] = definition.resolve or context.field_resolver
        self.args = get_argument_values(definition, nodes[0], context.variable_values)
        self.complete = context.completer(definition.type, nodes)
        self.name = name
        self.default = self.resolve is default_field_resolver
        no_info = self.default or self.resolve in _NO_INFO
        # a leaf whose resolver reads no info: completed without info or path
        self.complete_leaf = _leaf_completer(definition.type) if no_info else None
        # else: whether the resolver or the completion reads the info
        self.reads_info = not no_info or _completion_reads_info(definition.type)


class FastQueryExecutionContext(FastListExecutionContext):
    """The general execution context, with the fast path for query operations."""

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        """3.2 passes ``(operation, root_value)``; 3.3 passes nothing (and its executor
        always takes the general path)."""
        if not ENABLED or len(args) != 2 or kwargs:
            return super().execute_operation(*args, **kwargs)
        operation, root_value = args
        if operation.operation == OperationType.QUERY and not self.middleware_manager:
            budget = getattr(self.context_value, "budget", None)
            used = getattr(budget, "used", None)
            try:
                return self._fast_operation(operation, root_value)
            except Exception:  # refused or failed: the general path decides
                if budget is not None:
                    budget.used = used
        return super().execute_operation(operation, root_value)

    def _fast_operation(self, operation: Any, root_value: Any) -> dict[str, Any]:
        from graphql.execution.collect_fields import collect_fields

        root_type = self.schema.get_root_type(operation.operation)
        if root_type is None:
            raise Refused("no root type")
        self._plans: dict[int, tuple[dict[str, list[Any]], list[tuple[str, _Field]]]] = {}
        fields = collect_fields(
            self.schema, self.fragments, self.variable_values, root_type, operation.selection_set
        )
        return self._fast_fields(root_type, root_value, None, fields)

    def _fast_fields(
        self,
        parent: GraphQLObjectType,
        source: Any,
        path: Path | None,
        fields: dict[str, list[Any]],
    ) -> dict[str, Any]:
        """``execute_fields``: each field resolved and completed, in order. ``fields`` is
        graphql-core's own (cached) collection, so its plan is kept by its identity."""
        plan = self._plans.get(id(fields))
        if plan is None or plan[0] is not fields:
            plan = (fields, [(key, _Field(self, parent, nodes)) for key, nodes in fields.items()])
            self._plans[id(fields)] = plan
        result: dict[str, Any] = {}
        name = parent.name
        build_info = self.build_resolve_info
        is_awaitable = self.is_awaitable
        from_dict = type(source) is dict
        for key, field in plan[1]:
            leaf = field.complete_leaf
            if leaf is not None:
                if not field.default:
                    value = field.resolve(source, None, **field.args)
                    if is_awaitable(value):
                        raise Refused("awaitable")
                    result[key] = leaf(value)
                    continue
                if from_dict:
                    value = source.get(field.name)
                    if not callable(value):
                        result[key] = leaf(value)
                        continue
            field_path = Path(path, key, name)
            info = None
            if field.reads_info:
                info = build_info(field.definition, field.nodes, parent, field_path)
                value = field.resolve(source, info, **field.args)
            elif not field.default:
                value = field.resolve(source, None, **field.args)
            elif not from_dict or callable(value := source.get(field.name)):
                info = build_info(field.definition, field.nodes, parent, field_path)
                value = field.resolve(source, info, **field.args)
            if is_awaitable(value):
                raise Refused("awaitable")
            result[key] = field.complete(value, info, field_path)
        return result

    def completer(self, return_type: GraphQLOutputType, nodes: list[Any]) -> Complete:
        """``complete_value`` for values of ``return_type``, its type dispatch done once."""
        complete_leaf = _leaf_completer(return_type)  # a leaf type, nullable or not
        if complete_leaf is not None:
            return lambda value, _info, _path: complete_leaf(value)
        if is_non_null_type(return_type):
            wrapped: GraphQLNonNull[Any] = return_type  # type: ignore[assignment]
            inner = self.completer(wrapped.of_type, nodes)

            def non_null(value: Any, info: Any, path: Path) -> Any:
                completed = inner(value, info, path)
                if completed is None:
                    raise Refused("null in a non-null field")
                return completed

            return non_null
        if is_list_type(return_type):
            return self._list_completer(return_type, nodes)  # type: ignore[arg-type]
        if is_object_type(return_type):
            return self._object_completer(return_type, nodes)  # type: ignore[arg-type]
        raise Refused("an abstract type")

    def _list_completer(self, list_type: GraphQLList[Any], nodes: list[Any]) -> Complete:
        item = self.completer(list_type.of_type, nodes)

        def complete_list(value: Any, info: Any, path: Path) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            if is_plain_string_list(list_type, value):
                return value  # as FastListExecutionContext returns it
            if not is_iterable(value):
                raise Refused("not a list")
            return [item(v, info, path.add_key(i, None)) for i, v in enumerate(value)]

        return complete_list

    def _object_completer(self, object_type: GraphQLObjectType, nodes: list[Any]) -> Complete:
        # graphql-core's collection for (type, nodes), the same for every value (the
        # variables are fixed for the request): collected at the first value
        collected: list[dict[str, list[Any]]] = []

        def complete_object(value: Any, info: Any, path: Path) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            if object_type.is_type_of and not object_type.is_type_of(value, info):
                raise Refused("is_type_of")
            if not collected:
                collected.append(self.collect_subfields(object_type, nodes))
            return self._fast_fields(object_type, value, path, collected[0])

        return complete_object
