"""Which requests the server executes one at a time per process (`app.QUERY_SLOTS`): the
queries it has parsed before, picked by `DocumentCache.is_query`."""

from __future__ import annotations

import pytest

from runapi_server.limits import Limits
from runapi_server.querycache import DocumentCache

QUERY = "query A { viewer { id } }"
MUTATION = "mutation M { upsertBucket(input: {}) { bucket { id } } }"
BOTH = QUERY + "\n" + MUTATION
SHORTHAND = "{ viewer { id } }"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (QUERY, None, True),
        (QUERY, "A", True),
        (QUERY, "B", False),  # no such operation: the executor reports it
        (SHORTHAND, None, True),
        (MUTATION, None, False),
        (BOTH, "A", True),
        (BOTH, "M", False),
        (BOTH, None, False),  # ambiguous without a name: the executor reports it
    ],
)
def test_parsed_queries_are_told_from_mutations(
    text: str, name: str | None, expected: bool
) -> None:
    cache = DocumentCache(Limits())
    assert cache.is_query(text, name) is False  # not parsed yet: not held back
    cache.parse(None, {"query": text})
    assert cache.is_query(text, name) is expected
