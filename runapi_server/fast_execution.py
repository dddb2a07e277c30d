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

Both supported graphql-core lines take it. They differ in how the executor is entered and
how fields are grouped, and the four places that touch that are methods of the context
(:meth:`~FastQueryExecutionContext.execute_operation`, ``_field_definition``,
``_argument_values``, ``_grouped_subfields``):

- 3.2 calls ``execute_operation(operation, root_value)`` and builds the response from the
  data it returns; 3.3 calls ``execute_operation()`` and expects the response, built by
  its own ``build_response`` (and ``finish``).
- 3.2 groups a selection's fields as lists of ``FieldNode``; 3.3 as lists of
  ``FieldDetails`` (the node, the ``@defer`` usage it sits under and the fragment's
  variables), and its collection also returns the ``@defer`` usages it found. The fast
  path refuses any (the general executor decides what a deferred fragment means).
- 3.3 passes ``hide_suggestions`` and a fragment's own variables to argument coercion,
  and has an ``abort_signal``: a request given one takes the general path.
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

GRAPHQL_33 = version_info >= (3, 3)

if not GRAPHQL_33:
    from graphql.execution.execute import get_field_def


class Refused(Exception):
    """The fast path does not handle this request (the general path runs instead)."""


def _without_deferral(collected: Any) -> dict[str, list[Any]]:
    """3.3's collection (grouped fields, new ``@defer`` usages, forbidden directives):
    the grouped fields when nothing is deferred or forbidden."""
    grouped: dict[str, list[Any]]
    grouped, deferred, forbidden = collected
    if deferred or forbidden:
        raise Refused("@defer or a forbidden directive")
    return grouped


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
        self, context: FastQueryExecutionContext, parent: GraphQLObjectType, group: list[Any]
    ) -> None:
        # the field's nodes: 3.2 groups them as they are, 3.3 as FieldDetails
        nodes = [item.node for item in group] if GRAPHQL_33 else group
        name = nodes[0].name.value
        if name.startswith("__") and name != "__typename":
            raise Refused(name)
        definition = context._field_definition(parent, nodes[0])
        if not definition:
            raise Refused(name)
        self.definition = definition
        self.nodes = nodes
        self.resolve: Callable[..., Any] = definition.resolve or context.field_resolver
        self.args = context._argument_values(definition, group)
        self.complete = context.completer(definition.type, group)
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
        """3.2 passes ``(operation, root_value)`` and takes the data; 3.3 passes nothing
        (or ``serially``: then the general path runs) and takes the response."""
        if GRAPHQL_33:
            given = not args and not kwargs and getattr(self, "abort_signal", None) is None
            operation: Any = getattr(self, "operation", None) if given else None
            root_value = getattr(self, "root_value", None)
        elif len(args) == 2 and not kwargs:
            operation, root_value = args
        else:
            operation = None
        if (
            operation is not None
            and operation.operation == OperationType.QUERY
            and not self.middleware_manager
        ):
            budget = getattr(self.context_value, "budget", None)
            used = getattr(budget, "used", None)
            try:
                data = self._fast_operation(operation, root_value)
            except Exception:  # refused or failed: the general path decides
                if budget is not None:
                    budget.used = used
            else:
                if GRAPHQL_33:
                    executor: Any = self  # 3.3's methods
                    return executor.finish(executor.build_response(data))
                return data
        return super().execute_operation(*args, **kwargs)

    def _fast_operation(self, operation: Any, root_value: Any) -> dict[str, Any]:
        from graphql.execution.collect_fields import collect_fields

        root_type = self.schema.get_root_type(operation.operation)
        if root_type is None:
            raise Refused("no root type")
        self._plans: dict[int, tuple[dict[str, list[Any]], list[tuple[str, _Field]]]] = {}
        if GRAPHQL_33:
            collect: Any = collect_fields  # 3.3's signature
            hide = getattr(self, "hide_suggestions", False)
            collected = collect(
                self.schema, self.fragments, self.variable_values, root_type, operation, hide
            )
            fields = _without_deferral(collected)
        else:
            fields = collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                root_type,
                operation.selection_set,
            )
        return self._fast_fields(root_type, root_value, None, fields)

    def _field_definition(self, parent: GraphQLObjectType, node: Any) -> Any:
        if GRAPHQL_33:
            schema: Any = self.schema  # 3.3's method
            return schema.get_field(parent, node.name.value)
        return get_field_def(self.schema, parent, node)

    def _argument_values(self, definition: Any, group: list[Any]) -> dict[str, Any]:
        """The field's coerced arguments (from its first node, as graphql-core does)."""
        if GRAPHQL_33:
            first = group[0]
            coerce: Any = get_argument_values  # 3.3's signature
            hide = getattr(self, "hide_suggestions", False)
            values: dict[str, Any] = coerce(
                definition, first.node, self.variable_values, first.fragment_variable_values, hide
            )
            return values
        return get_argument_values(definition, group[0], self.variable_values)

    def _grouped_subfields(
        self, object_type: GraphQLObjectType, group: list[Any]
    ) -> dict[str, list[Any]]:
        collected: Any = self.collect_subfields(object_type, group)
        grouped: dict[str, list[Any]] = _without_deferral(collected) if GRAPHQL_33 else collected
        return grouped

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
            plan = (fields, [(key, _Field(self, parent, group)) for key, group in fields.items()])
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

    def completer(self, return_type: GraphQLOutputType, group: list[Any]) -> Complete:
        """``complete_value`` for values of ``return_type``, its type dispatch done once."""
        complete_leaf = _leaf_completer(return_type)  # a leaf type, nullable or not
        if complete_leaf is not None:
            return lambda value, _info, _path: complete_leaf(value)
        if is_non_null_type(return_type):
            wrapped: GraphQLNonNull[Any] = return_type  # type: ignore[assignment]
            inner = self.completer(wrapped.of_type, group)

            def non_null(value: Any, info: Any, path: Path) -> Any:
                completed = inner(value, info, path)
                if completed is None:
                    raise Refused("null in a non-null field")
                return completed

            return non_null
        if is_list_type(return_type):
            return self._list_completer(return_type, group)  # type: ignore[arg-type]
        if is_object_type(return_type):
            return self._object_completer(return_type, group)  # type: ignore[arg-type]
        raise Refused("an abstract type")

    def _list_completer(self, list_type: GraphQLList[Any], group: list[Any]) -> Complete:
        item = self.completer(list_type.of_type, group)

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

    def _object_completer(self, object_type: GraphQLObjectType, group: list[Any]) -> Complete:
        # graphql-core's collection for (type, group), the same for every value (the
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
                collected.append(self._grouped_subfields(object_type, group))
            return self._fast_fields(object_type, value, path, collected[0])

        return complete_object
