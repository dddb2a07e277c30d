"""`Paginator[T]`: one lazy, cursor-based sequence type for runs, files and artifacts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, overload

from ._exceptions import GraphQLError, PaginationError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page from the server: its items, the cursor after it, and maybe the total."""

    items: list[T]
    end_cursor: str | None
    has_next_page: bool
    total: int | None = None


class HasCursor(Protocol):
    @property
    def cursor(self) -> str: ...


def next_cursor(end_cursor: str | None, edges: Sequence[HasCursor]) -> str | None:
    """The cursor to continue after a page: `pageInfo.endCursor`, else the last edge's
    cursor (what wandb's client uses), None for an empty page."""
    return end_cursor or (edges[-1].cursor if edges else None)


_PAGE_LIMIT = re.compile(r"page size limit of (\d+)")


def page_limit(exc: GraphQLError) -> int | None:
    """The largest page the server allows, when `exc` is its refusal of a larger one
    (`'first' is 1000, over the page size limit of 500`), else None."""
    for error in exc.errors:
        match = _PAGE_LIMIT.search(str(error.get("message", "")))
        if match:
            return int(match.group(1))
    return None


PageFetcher = Callable[[int, "str | None"], Page[T]]
"""`fetch(first, after) -> Page[T]`."""


class Paginator(Generic[T]):
    """A lazy sequence over a paginated connection.

    Pages are fetched with `first=per_page` and the previous page's end cursor, only when
    iteration or indexing reaches them; fetched items are kept, so iterating twice does
    not fetch twice. `len()` asks the count callback (or the page's total) once.

    ```python
    files = run.files(per_page=50)
    len(files)          # from fileCount, without listing
    for f in files: ... # fetches 50 at a time
    files[0], files[-1], files[:3]
    ```
    """

    def __init__(
        self,
        fetch: PageFetcher[T],
        *,
        per_page: int,
        count: Callable[[], int] | None = None,
        description: str = "items",
    ) -> None:
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise ValueError(f"per_page must be a positive int, not {per_page!r}")
        self._fetch = fetch
        self._per_page = per_page
        self._count = count
        self._items: list[T] = []
        self._cursor: str | None = None
        self._done = False
        self._total: int | None = None
        self._description = description

    @property
    def per_page(self) -> int:
        """Items requested per page."""
        return self._per_page

    def _fetch_next(self) -> bool:
        """Fetch one more page; False when there is none."""
        if self._done:
            return False
        page = self._fetch(self._per_page, self._cursor)
        if page.has_next_page and page.end_cursor is not None and page.end_cursor == self._cursor:
            raise PaginationError(
                f"the server answered the page after cursor {self._cursor!r} with the same "
                "cursor and hasNextPage true; stopped instead of asking for it forever"
            )
        self._items.extend(page.items)
        if page.total is not None:
            self._total = page.total
        if not page.has_next_page or page.end_cursor is None:
            self._done = True
        self._cursor = page.end_cursor
        return bool(page.items) or not self._done

    def _load_all(self) -> None:
        while self._fetch_next():
            pass

    def __iter__(self) -> Iterator[T]:
        index = 0
        while True:
            while index < len(self._items):
                yield self._items[index]
                index += 1
            if not self._fetch_next() and index >= len(self._items):
                return

    def __len__(self) -> int:
        if self._done:
            return len(self._items)
        if self._total is None:
            if self._count is not None:
                self._total = self._count()
            else:
                self._fetch_next()
                if self._total is None:
                    self._load_all()
                    return len(self._items)
        return self._total

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            start, stop = index.start, index.stop
            if any(v is not None and v < 0 for v in (start, stop)) or stop is None:
                self._load_all()
            else:
                while len(self._items) < stop and self._fetch_next():
                    pass
            return self._items[index]
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"indices must be int or slice, not {type(index).__name__}")
        if index < 0:
            self._load_all()
        else:
            while len(self._items) <= index and self._fetch_next():
                pass
        try:
            return self._items[index]
        except IndexError:
            raise IndexError(f"index {index} out of range") from None

    def __repr__(self) -> str:
        """What it lists and how much is loaded, e.g. ``<Paginator: files of a/p/r, 3
        loaded, all>`` (no request is made to show it)."""
        if self._done:
            state = "all"
        elif self._total is not None:
            state = f"of {self._total}"
        else:
            state = "more on iteration"
        name = type(self).__name__
        return f"<{name}: {self._description}, {len(self._items)} loaded, {state}>"
