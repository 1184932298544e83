"""Reading the change feed: the entries after a ``seq`` whose rows a search matches, in order.

One walk of the feed serves every reader: the API (``GET /api/v2/connectionlog/changes``) and code
without a request, such as a stream worker that stores an owner and a ``q`` or view
(``reader_for``). A reader gets each changed row **as it is when read**: an ``updated``
entry, or a ``created`` one read after the disconnect, shows the row with its disconnect;
``q`` filters the rows as they are now. An entry whose row retention has deleted is not shown.

Why a follower loses nothing: entries are numbered in commit order (``writing``), so all the
entries up to the highest visible ``seq`` are final when it is read; a page answers the
entries in ``(after, end]`` and ``next`` never passes ``end``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Max, Min

from connlogs.api.row_entries import CONNECT_TIME, ID, ORGANIZATION_ID, Encoder, RowReader
from connlogs.feed.models import FeedAction, FeedEntry, FeedState
from connlogs.models import ConnectionLog
from connlogs.privacy.identities import Identities
from connlogs.querysets import ConnectionLogQuerySet
from connlogs.roles import User
from connlogs.savedviews.resolve import query_of
from connlogs.search.grammar import Validation
from connlogs.search.request import LogSearch
from connlogs.storage.fields import IdList

DEFAULT_LIMIT = 100
# Entries one read examines at most, matching or not: a rare ``q`` over a long backlog costs
# a bounded walk per request (``next`` moves on by up to this much), never a scan of the feed.
SCAN_WINDOW = 5_000


@dataclass(frozen=True)
class Change:
    """One entry: its ``seq``, ``"created"`` or ``"updated"``, and the row as it is now
    (loaded with ``with_related()``, ready for ``connection_log_entries``)."""

    seq: int
    action: str
    row: ConnectionLog


@dataclass(frozen=True)
class ChangePage:
    """The changes after ``after`` (oldest first) and ``next``: the ``after`` of the next
    read. ``next`` is the last change's seq when the page is full, else the end read."""

    changes: list[Change]
    next: int


@dataclass(frozen=True)
class EntryPage:
    """The changes after ``after`` as JSON (``entries``: ``{"seq", "action",
    "connection_log"}``, oldest first), each row's ``connect_time`` (``times``), the ids of
    the organizations the rows belong to (``organizations``, as the rows' ids read: text on
    PostgreSQL) and ``next`` (as ``ChangePage``'s)."""

    entries: list[dict]
    times: list[dt.datetime]
    organizations: set
    next: int


class FeedError(Exception):
    """A read the feed cannot answer."""


class FeedTrimmed(FeedError):
    """Retention removed entries the reader has not read: ``oldest_seq`` is the oldest entry
    kept (read on with ``after=oldest_seq - 1``, accepting the loss)."""

    def __init__(self, after: int, oldest_seq: int):
        self.after, self.oldest_seq = after, oldest_seq
        super().__init__(f"changes after {after} were trimmed; the oldest kept is {oldest_seq}")


class AfterPastEnd(FeedError):
    """``after`` is beyond every seq handed out (``latest``): not a position of this feed."""

    def __init__(self, after: int, latest: int):
        self.after, self.latest = after, latest
        super().__init__(f"after={after} is past the end of the feed ({latest})")


class InvalidSearch(FeedError):
    """The ``q`` (or the view's) is not a valid search for the user: the contract's
    ``validations``."""

    def __init__(self, validations: list[Validation]):
        self.validations = validations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in validations))


def _alias() -> str:
    # The entries and their rows are read from one database (the primary): a replica behind
    # it could hold an entry's position without its row, and a follower would move past it.
    return router.db_for_read(FeedEntry)


def trimmed_through(alias: str | None = None) -> int:
    """The highest seq retention has removed (0: none)."""
    state = FeedState.objects.using(alias or _alias()).filter(pk=1)
    return state.values_list("trimmed_through", flat=True).first() or 0


def _highest_entry(alias: str) -> int:
    return FeedEntry.objects.using(alias).aggregate(latest=Max("seq"))["latest"] or 0


def latest_seq(alias: str | None = None) -> int:
    """The end of the feed: the highest seq committed (or trimmed), 0 for an empty feed."""
    alias = alias or _alias()
    return max(_highest_entry(alias), trimmed_through(alias))


def oldest_seq(alias: str | None = None) -> int:
    """The oldest entry kept; one past the end when none is."""
    alias = alias or _alias()
    oldest = FeedEntry.objects.using(alias).aggregate(oldest=Min("seq"))["oldest"]
    return oldest if oldest is not None else latest_seq(alias) + 1


def _ends(alias: str, after: int) -> tuple[int, int, int | None]:
    """``trimmed_through``, the highest entry's seq (0: none) and the first after ``after``
    (None: none), in one query: a stream worker asks before every batch."""
    quote = connections[alias].ops.quote_name
    entries, state = quote(FeedEntry._meta.db_table), quote(FeedState._meta.db_table)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT trimmed_through FROM {state} WHERE id = 1), "
            f"(SELECT max(seq) FROM {entries}), "
            f"(SELECT min(seq) FROM {entries} WHERE seq > %s)",
            [after],
        )
        trimmed, highest, first = cursor.fetchone()
    return trimmed or 0, highest or 0, first


def _window(alias: str, after: int | None) -> tuple[int, int, int]:
    """``(start, upper, end)``: a read examines the entries in ``(start, upper]``; none when
    ``start == upper``. Raises ``AfterPastEnd`` and ``FeedTrimmed`` (``read_changes``)."""
    trimmed, highest, first = _ends(alias, after or 0)
    end = max(highest, trimmed)
    if after is None:
        return end, end, end
    if after > end:
        raise AfterPastEnd(after, end)
    start = after or trimmed
    if start < trimmed:
        raise FeedTrimmed(after, oldest_seq(alias))
    # The window starts at the first entry after ``start``: no read is spent on the gap
    # below the oldest entry kept, or on numbers a rolled-back batch drew.
    if first is None or first > end:
        return end, end, end
    return start, min(end, first - 1 + SCAN_WINDOW), end


def _matches(
    alias: str, start: int, upper: int, limit: int, rows_of: Callable[[list[tuple]], dict]
) -> list[tuple[int, int, Any]]:
    """The first ``limit`` entries in ``(start, upper]`` whose rows ``rows_of`` answers, in
    feed order: ``(seq, action, row)``, ``row`` as ``rows_of`` reads it.

    Two steps per chunk of entries, not one join: the chunk's entries (``(seq, log id,
    action)``, the feed's primary key), then ``rows_of(chunk)``: the search's rows among
    theirs, by the chunk's id text. A join from the entries to the partitioned log probes
    every monthly partition (or reads them all); ``rows_of`` reads only the months the
    chunk's ids name (``_rows_of_chunk``). A chunk starts at ``limit`` entries and doubles
    while a rare search leaves the page short; a row changed twice in a chunk is read once.
    """
    found: list[tuple[int, int, Any]] = []
    entries = FeedEntry.objects.using(alias).order_by("seq").values_list("seq", "log_id", "action")
    after, size = start, limit
    while len(found) < limit and after < upper:
        chunk = list(entries.filter(seq__gt=after, seq__lte=upper)[:size])
        if not chunk:
            break
        rows = rows_of(chunk)
        for seq, log_id, action in chunk:
            row = rows.get(str(log_id))
            if row is not None:
                found.append((seq, action, row))
                if len(found) == limit:
                    break
        after, size = chunk[-1][0], min(size * 2, SCAN_WINDOW)
    return found


def _rows_of_chunk(rows: ConnectionLogQuerySet, chunk: list[tuple]) -> ConnectionLogQuerySet:
    """``rows`` narrowed to the log rows of ``chunk``'s entries: their ids as one array
    parameter and, on PostgreSQL, the span of times their version-7 ids name (a CHECK makes
    each id's time its row's: ``storage.ids``), so that only those months' partitions are
    probed, each by its primary key (``storage.fields.LogIdAny``)."""
    return rows.filter(id__any=IdList({log_id for _, log_id, _ in chunk}))


def _check_not_trimmed(alias: str, after: int | None, start: int) -> None:
    # A trim that committed while we read may have removed entries of (start, upper]: then
    # the page may have holes, and the reader must be told.
    if after and start < trimmed_through(alias):
        raise FeedTrimmed(after, oldest_seq(alias))


def read_changes(search: LogSearch, *, after: int | None, limit: int = DEFAULT_LIMIT) -> ChangePage:
    """Up to ``limit`` changes after ``after`` whose rows ``search`` matches (in the scope of
    its user), oldest first, as model rows (for pages that render them; JSON readers use
    ``EntryReader``).

    ``after=None`` answers no changes and ``next`` = the end of the feed (start following
    now); ``after=0`` starts at the oldest entry kept. Check ``search.validations`` first.
    Raises ``FeedTrimmed`` when retention removed entries after ``after`` (``after`` > 0),
    ``AfterPastEnd`` when ``after`` is beyond the end.
    """
    alias = _alias()
    start, upper, end = _window(alias, after)
    if start == upper:
        return ChangePage([], end)
    matching = search.matching.using(alias).with_related()

    def rows_of(chunk: list[tuple]) -> dict:
        return {str(row.pk): row for row in _rows_of_chunk(matching, chunk)}

    found = _matches(alias, start, upper, limit, rows_of)
    _check_not_trimmed(alias, after, start)
    changes = [Change(seq, FeedAction(action).label, row) for seq, action, row in found]
    return ChangePage(changes, changes[-1].seq if len(changes) == limit else upper)


class EntryReader:
    """Reads the changes ``search`` matches as the API answers them (``page``), again and
    again: a stream worker reads many pages of one search.

    Each change is ``{"seq", "action", "connection_log"}``, the row in the read contract's
    shape as ``viewer`` sees it, with pseudonyms as ``identities`` shows them (by default
    ``search.identities``). The rows are read as plain tuples and shaped by the exports'
    encoder (``api.row_entries``): the same JSON as the list API's, without a model per
    row; the organizations and users they name are shaped once per reader.
    """

    def __init__(self, search: LogSearch, viewer: User, identities: Identities | None = None):
        self.alias = _alias()
        self.read = RowReader(self.alias)
        self.encoder = Encoder(self.read, viewer, identities or search.identities)
        self.matching = search.matching.using(self.alias).order_by()
        self.actions = {action.value: action.label for action in FeedAction}

    def _rows_of(self, chunk: list[tuple]) -> dict:
        rows = self.read(_rows_of_chunk(self.matching, chunk))
        if self.read.key is str:
            return {row[ID]: row for row in rows}
        return {str(row[ID]): row for row in rows}

    def page(self, *, after: int | None, limit: int = DEFAULT_LIMIT) -> EntryPage:
        """``read_changes``'s page as JSON; raises what it raises."""
        start, upper, end = _window(self.alias, after)
        if start == upper:
            return EntryPage([], [], set(), end)
        found = _matches(self.alias, start, upper, limit, self._rows_of)
        _check_not_trimmed(self.alias, after, start)
        rows = [row for _, _, row in found]
        self.encoder.learn(rows)
        actions = self.actions
        entries = [
            {"seq": seq, "action": actions[action], "connection_log": entry}
            for (seq, action, _), entry in zip(found, self.encoder.entries(rows), strict=True)
        ]
        times = [row[CONNECT_TIME] for row in rows]
        organizations = {row[ORGANIZATION_ID] for row in rows}
        following = entries[-1]["seq"] if len(entries) == limit else upper
        return EntryPage(entries, times, organizations, following)


def search_for(user: User, *, q: str = "", view: str = "") -> LogSearch:
    """The search of a reader without a request (a stream worker, an alert rule, which
    store their owner): ``user``'s scope, ``q`` or the saved view ``view`` (its id; ``q`` is
    then ignored). The caller decides what a suspended owner may still read.

    Raises ``savedviews.resolve.ViewNotFound`` when ``user`` may not see ``view``,
    ``InvalidSearch`` for a bad ``q``.
    """
    search = LogSearch.for_user(user, query_of(view, user) if view else q)
    if search.validations:
        raise InvalidSearch(search.validations)
    return search


def reader_for(
    user: User, *, q: str = "", view: str = "", identities: Identities | None = None
) -> EntryReader:
    """An ``EntryReader`` of ``search_for(user, q=q, view=view)``, pseudonyms as
    ``identities`` (by default the user's): a stream's records. Raises as ``search_for``."""
    return EntryReader(search_for(user, q=q, view=view), user, identities)


def changes_for(
    user: User, *, q: str = "", view: str = "", after: int | None, limit: int = DEFAULT_LIMIT
) -> ChangePage:
    """``read_changes`` of ``search_for(user, q=q, view=view)``, as model rows: an alert
    rule's. Raises as ``search_for`` and ``read_changes``."""
    return read_changes(search_for(user, q=q, view=view), after=after, limit=limit)
