"""`Paginator` over page functions that misbehave as a server might."""

from __future__ import annotations

import pytest

import runapi
from runapi._pagination import Page, Paginator


def test_a_cursor_that_does_not_advance_is_a_typed_error() -> None:
    calls: list[str | None] = []

    def fetch(first: int, after: str | None) -> Page[int]:
        calls.append(after)
        return Page(items=[len(calls)], end_cursor="c1", has_next_page=True)

    pages = Paginator(fetch, per_page=1)
    with pytest.raises(runapi.PaginationError, match="same cursor"):
        list(pages)
    assert calls == [None, "c1"]
    # Asking again raises again: never a silently shortened list.
    with pytest.raises(runapi.PaginationError):
        list(pages)
    assert isinstance(runapi.PaginationError("x"), runapi.ResponseValidationError)


def test_pages_that_advance_are_read_to_the_end() -> None:
    def fetch(first: int, after: str | None) -> Page[int]:
        start = 0 if after is None else int(after)
        items = list(range(start, min(start + first, 5)))
        end = start + len(items)
        return Page(items=items, end_cursor=str(end), has_next_page=end < 5)

    assert list(Paginator(fetch, per_page=2)) == [0, 1, 2, 3, 4]


def test_repr_says_what_is_listed_and_how_much_is_loaded() -> None:
    def fetch(first: int, after: str | None) -> Page[int]:
        start = 0 if after is None else int(after)
        return Page(items=[start], end_cursor=str(start + 1), has_next_page=start < 2, total=3)

    pages = Paginator(fetch, per_page=1, description="files of a/p/r")
    assert repr(pages) == "<Paginator: files of a/p/r, 0 loaded, more on iteration>"
    assert pages[0] == 0
    assert repr(pages) == "<Paginator: files of a/p/r, 1 loaded, of 3>"
    assert list(pages) == [0, 1, 2]
    assert repr(pages) == "<Paginator: files of a/p/r, 3 loaded, all>"
