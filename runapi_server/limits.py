"""Configurable limits of the local server, with sane defaults, and the checks that use them.

Every limit gives a clear error: a GraphQL error (HTTP 200) inside GraphQL, HTTP 413 for a
REST body or upload that is too large, HTTP 400 for a too-long file-stream line.

```python
limits = Limits(max_page_size=500, max_upload_bytes=1 << 30)
app = create_app(Path("data"), limits=limits)
limits.check_page_size(first=10_000, last=None)  # raises BadInput over 500
```
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, fields
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from runapi_server.errors import BadInput

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may ask for or send (all positive integers)."""

    max_page_size: int = 10_000
    """Largest ``first`` / ``last`` of a connection (runs, files, artifacts)."""
    max_query_depth: int = 20
    """Deepest field nesting of a GraphQL operation (a root field is depth 1)."""
    max_query_fields: int = 5_000
    """Most fields one GraphQL operation may select, fragments expanded."""
    max_query_tokens: int = 20_000
    """Most lexical tokens in a GraphQL document."""
    max_graphql_bytes: int = 16 * MIB
    """Largest ``POST /graphql`` body."""
    max_stream_bytes: int = 64 * MIB
    """Largest ``file_stream`` body."""
    max_upload_bytes: int = 5 * 1024 * MIB
    """Largest uploaded file."""
    max_row_bytes: int = 10 * MIB
    """Largest line of a streamed file (a history row, an events row, a log line)."""
    max_sampled_specs: int = 100
    """Most specs in one ``sampledHistory`` call."""
    max_costly_fields: int = 20
    """Most fields of :data:`COSTLY_FIELDS` (a run's history, events and their tails) one
    GraphQL operation may select, aliases and fragments expanded: each can return a whole
    run's history, so they are counted apart from ``max_query_fields``."""
    max_header_seconds: int = 30
    """Longest a client may take to send a request's headers, counted from the connection
    opening or the previous response (``runapi serve``: a slower connection is closed)."""
    max_response_bytes: int = 128 * MIB
    """Most bytes of history rows, events and run JSON (config, summary, system metrics)
    one GraphQL request may return, across all its fields, aliases and list items (see
    :class:`ResponseBudget`). Past it the request gets one GraphQL error, no data."""
    min_part_bytes: int = 5 * MIB
    """Smallest part of a multipart artifact upload, the last part excepted (as on S3;
    wandb-core sends 100 MiB parts from 2 GiB on). Tests set it small."""
    max_parts: int = 10_000
    """Most parts of one multipart artifact upload."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {item.name} must be a positive integer, not {value!r}")

    # ----------------------------------------------------------------------- GraphQL

    def check_page_size(self, first: int | None, last: int | None) -> None:
        """:class:`BadInput` when ``first`` or ``last`` is over ``max_page_size``."""
        for name, value in (("first", first), ("last", last)):
            if value is not None and value > self.max_page_size:
                raise BadInput(
                    f"'{name}' is {value}, over the page size limit of {self.max_page_size}:"
                    " ask for smaller pages"
                )

    def check_spec_count(self, count: int) -> None:
        """:class:`BadInput` when ``sampledHistory`` gets more than ``max_sampled_specs``."""
        if count > self.max_sampled_specs:
            raise BadInput(
                f"sampledHistory got {count} specs, over the limit of {self.max_sampled_specs}"
            )

    def parse_query(self, query: str) -> DocumentNode:
        """Parse a GraphQL document and check its size and depth before it is validated.

        Raises :class:`graphql.GraphQLError` with a clear message when it is over a limit.
        """
        try:
            document = parse(query, max_tokens=self.max_query_tokens)
        except RecursionError:
            raise GraphQLError(
                f"query nested too deeply: at most {self.max_query_depth} levels"
            ) from None
        try:
            _check_document(
                document, self.max_query_depth, self.max_query_fields, self.max_costly_fields
            )
        except RecursionError:
            raise GraphQLError(
                "query too complex: its fragments nest too deeply to be checked"
            ) from None
        return document

    # ----------------------------------------------------------------------- file stream

    def stream_problem(self, body: Any) -> str | None:
        """Why a decoded file-stream post breaks a limit (a line too long), else None.

        Malformed posts pass here; :func:`runapi_server.filestream.parse_post` reports them.
        """
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, dict):
            return None
        for name, chunk in files.items():
            content = chunk.get("content") if isinstance(chunk, dict) else None
            if not isinstance(content, list):
                continue
            if (
                content
                and set(map(type, content)) == {str}
                and max(map(len, content)) * 4 <= self.max_row_bytes
            ):
                continue  # no line can be over (fast path, C-level)
            for index, line in enumerate(content):
                if isinstance(line, str) and _utf8_length_over(line, self.max_row_bytes):
                    return (
                        f"files[{name!r}] line {index} is over the row size limit of"
                        f" {self.max_row_bytes} bytes"
                    )
        return None


def _utf8_length_over(text: str, limit: int) -> bool:
    if len(text) * 4 <= limit:
        return False
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit


class BodyTooLarge(Exception):
    """A request body over its limit (answered with HTTP 413)."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} is over the limit of {limit} bytes")


async def read_limited(
    stream: AsyncIterable[bytes], declared: str | None, limit: int, what: str
) -> bytes:
    """The whole body, refused (:class:`BodyTooLarge`) as soon as it passes ``limit``.

    ``declared`` is the ``Content-Length`` header: a body declared too large is refused
    before any of it is read.
    """
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge(what, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(what, limit)
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- response budget


class ResponseBudget:
    """What one GraphQL request may still return (``max_response_bytes``).

    Resolvers of big fields :meth:`charge` the size of what they return; past the limit
    the field fails with :class:`BadInput` (a GraphQL error naming the limit). One request
    runs its resolvers in one thread, so no lock.

    ```python
    budget = ResponseBudget(1 << 20)
    budget.charge(4096, "history")  # raises BadInput once the total passes 1 MiB
    ```
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, size: int, what: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise BadInput(
                f"response too large: with {what} this request would return over"
                f" {self.limit} bytes (the max_response_bytes limit); ask for fewer rows"
                " (samples, minStep/maxStep, smaller pages) or fewer aliases per request"
            )

    def charge_texts(self, texts: list[str], what: str) -> list[str]:
        """Charge the length of each text (history rows); returns ``texts``."""
        self.charge(sum(map(len, texts)), what)
        return texts


# --------------------------------------------------------------------------- depth and size

COSTLY_FIELDS = frozenset(
    {"history", "events", "sampledHistory", "parquetHistory", "historyTail", "eventsTail"}
)
"""Run fields that can return a whole run's history: limited by ``max_costly_fields``."""


def _check_document(
    document: DocumentNode, max_depth: int, max_fields: int, max_costly: int
) -> None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    costs: dict[str, tuple[int, int, int]] = {}

    def fragment_cost(name: str, visiting: set[str]) -> tuple[int, int, int]:
        if name in costs:
            return costs[name]
        definition = fragments.get(name)
        if definition is None or name in visiting:
            return 0, 0, 0  # unknown or cyclic: validation reports it
        visiting.add(name)
        cost = selection_cost(definition.selection_set, visiting)
        visiting.discard(name)
        costs[name] = cost
        return cost

    def selection_cost(
        selection_set: SelectionSetNode | None, visiting: set[str]
    ) -> tuple[int, int, int]:
        """(depth, field count, costly field count) of a selection set."""
        if selection_set is None:
            return 0, 0, 0
        depth = count = costly = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                sub_depth, sub_count, sub_costly = selection_cost(selection.selection_set, visiting)
                depth, count = max(depth, sub_depth + 1), count + sub_count + 1
                costly += sub_costly + (selection.name.value in COSTLY_FIELDS)
            elif isinstance(selection, InlineFragmentNode):
                sub_depth, sub_count, sub_costly = selection_cost(selection.selection_set, visiting)
                depth, count, costly = max(depth, sub_depth), count + sub_count, costly + sub_costly
            elif isinstance(selection, FragmentSpreadNode):
                sub_depth, sub_count, sub_costly = fragment_cost(selection.name.value, visiting)
                depth, count, costly = max(depth, sub_depth), count + sub_count, costly + sub_costly
            if costly > max_costly:
                raise GraphQLError(
                    f"query selects run history fields ({', '.join(sorted(COSTLY_FIELDS))})"
                    f" more than {max_costly} times (the max_costly_fields limit): each may"
                    " return a whole history; send fewer aliases per request"
                )
            if depth > max_depth:
                raise GraphQLError(
                    f"query is nested more than {max_depth} fields deep (the depth limit)"
                )
            if count > max_fields:
                raise GraphQLError(f"query selects more than {max_fields} fields (the size limit)")
        return depth, count, costly

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            selection_cost(definition.selection_set, set())
