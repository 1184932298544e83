"""Pages of the connection-log list that stay fast however deep they go.

* "Next" and "previous" are keyset cursors (``after``/``before`` a row, via
  ``querysets.after``/``before``): the database walks the newest-first index from the
  cursor, so page 500 costs what page 1 costs, and rows arriving during an incident never
  shift what the next page shows.
* A numbered page is ``id IN (SELECT id … ORDER BY connect_time DESC, id DESC OFFSET k
  LIMIT n)``: the skipping reads ids only (an index walk on PostgreSQL), and the full rows
  with their related objects are fetched for the ``n`` ids alone.
* The total is the API's capped count: "2,000+" past ``CONNLOGS_COUNT_CAP``. What a page
  shows never contradicts it: deeper than the cap the total reads "more than the last row
  shown" (``2,975+``), the last page (no next one) makes the total exact, and a page past
  the end counts the rows before it (at most ``MAX_OFFSET``) to link to the real last page.
  It is counted before the rows: few matches of free text are sorted, not walked
  (``LogSearch.reading``), and the unfiltered list is read newest month first.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from connlogs.models import ConnectionLog
from connlogs.querysets import Reading
from connlogs.search.grammar import Validation
from connlogs.search.request import LogSearch
from connlogs.web.params import MAX_PAGE, page_number, row_id

# Numbered pages shown each side of the current one.
NEIGHBOURS = 2
# Numbered pages skip at most this many rows (an index walk of a million ids is still quick);
# deeper than that, the cursors of "next"/"previous" are the way, or a narrower search.
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class PageRequest:
    number: int = 1
    after: uuid.UUID | None = None
    before: uuid.UUID | None = None

    @classmethod
    def from_params(cls, params) -> tuple[PageRequest, list]:
        """``page``, ``after`` and ``before`` of an address, and the ``Validation`` of each
        that cannot be read (``params.page_number``, ``params.row_id``)."""
        number, errors = page_number(params, MAX_PAGE)
        after, after_errors = row_id(params, "after")
        before, before_errors = row_id(params, "before")
        if after and before:
            before_errors.append(Validation("before", "Page after a row or before one, not both."))
        return cls(number, after, before), errors + after_errors + before_errors


@dataclass
class PageLink:
    label: str
    url: str | None  # None: the current page, or a gap ("…")
    current: bool = False


@dataclass
class Page:
    """One page of the list and everything its text says about the whole.

    ``count`` is the number of matching rows when ``exact``, else a number the rows
    exceed (the cap, or the last row shown); ``first_index`` is the position of the first
    row shown (1-based; 0 when none).
    """

    rows: list[ConnectionLog]
    number: int
    size: int
    count: int
    exact: bool
    has_previous: bool
    has_next: bool
    first_index: int = 0
    previous_url: str = ""
    next_url: str = ""
    links: list[PageLink] = field(default_factory=list)
    stale_cursor: bool = False
    too_deep: bool = False

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0

    @property
    def max_offset(self) -> int:
        return MAX_OFFSET

    @property
    def count_is_capped(self) -> bool:
        return not self.exact

    @property
    def count_text(self) -> str:
        return f"{self.count:,}" if self.exact else f"{self.count:,}+"

    @property
    def last_page(self) -> int | None:
        """The last page's number when the count is exact; ``None`` otherwise."""
        if not self.exact:
            return None
        return max(1, math.ceil(self.count / self.size))

    @property
    def past_the_end(self) -> bool:
        """A numbered page after the last one (no rows, though rows match)."""
        return not self.rows and self.exact and self.number > (self.last_page or 1)


def _offset_rows(
    matching: QuerySet, offset: int, size: int, reading: Reading
) -> list[ConnectionLog]:
    # One row more than a page tells whether there is a next page.
    return matching.page(offset, size + 1, reading)


def paginate(
    found: LogSearch,
    request: PageRequest,
    *,
    size: int,
    cap: int,
    url: Callable[..., str],
) -> Page:
    """One page of the rows ``found`` matches, for ``request``.

    Cursors are resolved among the rows the caller may see (``found.visible``: a cursor row
    that no longer matches still marks a place); ``url(page=, after=, before=)`` makes links.
    """
    matching, visible = found.matching, found.visible
    number = request.number
    stale = False
    rows: list[ConnectionLog] | None = None
    has_previous = has_next = False
    cursor_id = request.after or request.before
    cursor = visible.filter(id=cursor_id).only("id", "connect_time").first() if cursor_id else None
    if cursor_id and cursor is None:
        stale = True
    # Counted first: free text's count chooses how its rows are read (``LogSearch.reading``).
    counted = matching.capped_count(cap)
    reading = found.reading(counted, cap)
    if cursor is not None and request.after:
        found = matching.first_rows(size + 1, after=cursor, reading=reading)
        has_next, has_previous = len(found) > size, True
        rows = found[:size]
        number = max(number, 2)
    elif cursor is not None and request.before:
        found = list(
            matching.oldest_first(sort=reading.sort).with_related().before(cursor)[: size + 1]
        )
        if len(found) > size:
            rows = list(reversed(found[:size]))
            has_previous, has_next = True, True
        else:
            # Reached the top: that is page 1, shown as page 1 (the newest rows).
            number = 1
    if rows is None:
        offset = (number - 1) * size
        found = _offset_rows(matching, offset, size, reading) if offset <= MAX_OFFSET else []
        has_next, has_previous = len(found) > size, number > 1
        rows = found[:size]

    skipped = (number - 1) * size
    past_the_end = counted <= cap and counted <= skipped  # the exact count ends before it
    too_deep = not rows and skipped > MAX_OFFSET and not past_the_end
    page = Page(
        too_deep=too_deep,
        rows=rows,
        number=number,
        size=size,
        count=min(counted, cap),
        exact=counted <= cap,
        has_previous=has_previous,
        has_next=has_next,
        stale_cursor=stale,
    )
    _place(page, matching)
    if has_next and rows:
        page.next_url = url(page=page.number + 1, after=rows[-1].id)
    if page.past_the_end:
        page.previous_url = url(page=page.last_page)
    elif too_deep:
        page.previous_url = url(page=MAX_OFFSET // size + 1)  # the deepest numbered page
    elif has_previous:
        page.previous_url = (
            url(page=page.number - 1, before=rows[0].id) if rows else url(page=page.number - 1)
        )
    page.links = _numbered_links(page, url)
    return page


def _place(page: Page, matching: QuerySet) -> None:
    """Make the page's numbers agree with its rows and with each other.

    The last page (no next one) fixes the total; past the cap a page's rows raise the
    lower bound; a cursor's page number (from the address) is kept within the pages that
    exist; an empty numbered page past the end counts what comes before it.
    """
    if page.rows:
        if page.exact:
            # A cursor's page number comes from the address: keep it among the pages.
            page.number = max(1, min(page.number, page.last_page - int(page.has_next)))
        if not page.has_next:
            # The rows run to the end: what precedes them and what they hold is the total.
            if page.exact:
                page.number = page.last_page
                page.first_index = page.count - len(page.rows) + 1
            else:
                page.first_index = (page.number - 1) * page.size + 1
                page.count, page.exact = page.last_index, True
            return
        page.first_index = (page.number - 1) * page.size + 1
        if not page.exact:
            page.count = max(page.count, page.last_index)
        return
    if page.number > 1 and not page.exact and not page.too_deep:
        # Fewer rows than this page skips: counting up to there is exact (and bounded).
        page.count = matching.capped_count((page.number - 1) * page.size)
        page.exact = True


def _numbered_links(page: Page, url: Callable[..., str]) -> list[PageLink]:
    """Page numbers around the current one, the first and (when known) the last page, and
    "…" for gaps and for pages past a capped count. Never a page that has no rows."""
    last = page.last_page
    if last is not None:
        reachable = last
    else:
        # The count is a lower bound: the pages it fills, and the next one if this has one.
        reachable = max(math.ceil(page.count / page.size), page.number + int(page.has_next))
    anchor = min(page.number, reachable)
    low = max(1, anchor - NEIGHBOURS)
    high = min(reachable, anchor + NEIGHBOURS)
    numbers = [n for n in range(low, high + 1) if (n - 1) * page.size <= MAX_OFFSET]
    links: list[PageLink] = []
    if low > 1:
        links.append(PageLink("1", url(page=1)))
        if low > 2:
            links.append(PageLink("…", None))
    for number in numbers:
        current = number == page.number and bool(page.rows)
        links.append(PageLink(f"{number:,}", None if current else url(page=number), current))
    if last is not None and high < last and (last - 1) * page.size <= MAX_OFFSET:
        if high < last - 1:
            links.append(PageLink("…", None))
        links.append(PageLink(f"{last:,}", url(page=last)))
    elif last is None and numbers:
        # More pages exist than the capped count can number.
        links.append(PageLink("…", None))
    return links
