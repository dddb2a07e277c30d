"""Parsed and validated GraphQL documents, reused across requests with the same text.

graphql-core spends milliseconds parsing and validating even a small operation (about
0.8 + 3.5 ms for ``GetRunHistory``, 3 + 7.5 ms for ``ListRuns`` on the benchmark
machine), more than executing a sampled-history request. Clients send the same few
operation texts again and again, so the parsed document and the verdict of a successful
validation are kept, keyed by the exact text (validation depends only on the document,
the schema and the rules, all fixed for a server). Failures are never cached: a bad
query is parsed and validated afresh each time, and its errors are reported as before.

```python
cache = DocumentCache(limits)
graphql_sync(schema, data, query_parser=cache.parse, query_validator=cache.validate)
```
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    validate,
)

from runapi_server.limits import Limits

MAX_DOCUMENTS = 256
"""Distinct operation texts kept (least recently used ones are dropped beyond this)."""


class DocumentCache:
    """An LRU of ``query text -> parsed document``, plus which of them validated cleanly."""

    def __init__(self, limits: Limits, max_documents: int = MAX_DOCUMENTS) -> None:
        self._limits = limits
        self._max = max_documents
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        # id(document) -> (document, schema, rules) that validated without errors; the
        # document is held so that its id cannot be reused while the entry exists.
        self._valid: dict[int, tuple[DocumentNode, GraphQLSchema, tuple[Any, ...]]] = {}
        self._lock = threading.Lock()

    def parse(self, _context: Any, data: dict[str, Any]) -> DocumentNode:
        """ariadne's ``query_parser``: the cached document, else parse (with the limits)."""
        text: str = data["query"]
        with self._lock:
            document = self._documents.get(text)
            if document is not None:
                self._documents.move_to_end(text)
                return document
        document = self._limits.parse_query(text)  # raises GraphQLError over a limit
        with self._lock:
            self._documents[text] = document
            while len(self._documents) > self._max:
                _text, dropped = self._documents.popitem(last=False)
                self._valid.pop(id(dropped), None)
        return document

    def validate(
        self,
        schema: GraphQLSchema,
        document_ast: DocumentNode,
        rules: Collection[type[ASTValidationRule]] | None = None,
        max_errors: int | None = None,
        type_info: TypeInfo | None = None,
    ) -> list[GraphQLError]:
        """ariadne's ``query_validator``: ``[]`` for a document that validated before.

        ``type_info`` exists only in graphql-core 3.2's ``validate`` and is passed on only
        when given, so either graphql-core line (3.2 or 3.3) is served.
        """
        key = tuple(rules) if rules is not None else ()
        with self._lock:
            seen = self._valid.get(id(document_ast))
        if seen is not None and seen[0] is document_ast and seen[1] is schema and seen[2] == key:
            return []
        options: dict[str, Any] = {} if type_info is None else {"type_info": type_info}
        errors = validate(schema, document_ast, rules=rules, max_errors=max_errors, **options)
        if not errors:
            with self._lock:
                if any(doc is document_ast for doc in self._documents.values()):
                    self._valid[id(document_ast)] = (document_ast, schema, key)
        return errors

    def is_query(self, text: str, operation_name: str | None) -> bool:
        """Whether ``text`` is a parsed document (seen before) whose operation to run
        (``operation_name``, else its only one) is a query; False when not known yet."""
        with self._lock:
            document = self._documents.get(text)
        if document is None:
            return False
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is not None:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
        return len(operations) == 1 and operations[0].operation == OperationType.QUERY
