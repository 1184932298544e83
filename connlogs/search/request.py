"""One read of connection logs, built once per request and handed on.

Every door (the API list, the export, the list page with its chart, the download) starts the
same way: who asks, which rows they may read, what ``q`` says, which rows that leaves, and
the time window ``q`` names. ``LogSearch`` is that value. It is made once, by
``LogSearch.from_request``, and the door's later steps (paging, the chart, the menus, the
stream) read it instead of parsing ``q`` or scoping rows again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from connlogs.models import ConnectionLog
from connlogs.privacy.identities import Identities
from connlogs.querysets import FEW_MATCHES, WALK, Reading
from connlogs.savedviews.resolve import search_query
from connlogs.search.filterset import ConnectionLogFilterSet
from connlogs.search.grammar import FREE_TEXT_KEY, Validation
from connlogs.values import format_time


def query_text(params) -> str:
    """The ``q`` of a request's parameters (a ``QueryDict``) as sent; ``""`` when absent.

    Given twice (``?q=a&q=b``), the first counts, as in Coder, whose handlers read it with
    Go's ``url.Values.Get``; Django's ``QueryDict.get`` would take the last.
    """
    given = params.getlist("q")
    return given[0] if given else ""


@dataclass(frozen=True)
class TimeWindow:
    """The time range ``q`` names (inclusive), ``None`` where it names no bound: the
    ``connected_after``/``connected_before`` bounds, else the ``active_after``/``active_before``
    ones (relative times and dates resolved against the search's ``now``). ``by_activity``:
    the range starts at ``active_after:``, so sessions that connected before it are found
    too (a chart of connect times over the range leaves them out)."""

    after: dt.datetime | None = None
    before: dt.datetime | None = None
    by_activity: bool = False


class LogSearch:
    """A caller's search of the connection log.

    ``visible``   the rows the caller may read (``ConnectionLog.objects.visible_to``);
    ``filterset`` ``q`` parsed by the grammar and bound to the one FilterSet;
    ``validations`` the contract's errors of ``q`` (value errors, then unknown keys), ``[]``
                  when it is good: read ``matching`` and ``window`` only then;
    ``matching``  the visible rows that ``q`` matches (a lazy queryset);
    ``terms``     ``{key: value}`` as parsed (lower-cased; a negation's key keeps its ``-``),
                  for menus and links;
    ``window``    the time range ``q`` names, as times (``TimeWindow``);
    ``now``       the one clock of the request: relative times (``-24h``), ``duration``
                  and ``status:stale`` are measured from it, so a page, its count and its
                  chart agree;
    ``notices``   facts about a valid ``q`` that explain an empty answer without being
                  errors (Coder answers them with no rows and no error), for the pages:
                  ``No user named "frnak"``. Read after ``matching`` has been evaluated or
                  ``validations`` read;
    ``identities`` who is shown as a pseudonym (data protection mode), and the reveals.
    """

    # A ``view=`` that could not be opened (``savedviews.resolve.search_query``).
    view_errors: tuple[Validation, ...] = ()

    def __init__(self, request, q: str, now: dt.datetime | None = None):
        self.request = request
        self.q = q
        self.now = now or timezone.now()
        self.visible: QuerySet = ConnectionLog.objects.visible_to(request.user)
        self.filterset = ConnectionLogFilterSet.from_query(q, self.visible, request, self.now)

    @classmethod
    def from_request(cls, request, q: str | None = None) -> LogSearch:
        """The search a request asks for: ``q`` from its query string unless given, or the
        ``q`` of the saved view its ``view`` parameter names (resolved here, for every door)."""
        view_errors: list[Validation] = []
        if q is None:
            params = getattr(request, "query_params", request.GET)
            q, view_errors = search_query(params, query_text(params), request.user)
        search = cls(request, q)
        search.view_errors = tuple(view_errors)
        return search

    @classmethod
    def for_user(cls, user, q: str) -> LogSearch:
        """``user``'s search for ``q`` without a request (a stream worker acting for the
        user it stores): the same scope and filters as the user's own requests."""
        return cls(SimpleNamespace(user=user, GET=QueryDict(), query_params=QueryDict()), q)

    @cached_property
    def identities(self) -> Identities:
        return Identities.for_viewer(self.request.user)

    @cached_property
    def validations(self) -> list[Validation]:
        return list(self.view_errors) or self.filterset.validations

    @property
    def is_valid(self) -> bool:
        return not self.validations

    @property
    def has_grammar_errors(self) -> bool:
        """``q`` did not even parse into terms (the menus cannot be written into it)."""
        return bool(self.filterset.parse_errors)

    @property
    def terms(self) -> dict[str, str]:
        return self.filterset.terms

    @property
    def matching(self) -> QuerySet:
        return self.filterset.qs

    @property
    def notices(self) -> list[str]:
        if not self.is_valid:
            return self.filterset.notices
        _ = self.filterset.qs  # the people keys are resolved as the filters are applied
        cleaned = self.filterset.form.cleaned_data
        # Bounds on the connect time only: active_after: with active_before: before it still
        # finds the sessions that span the gap.
        after = cleaned.get("connected_after")
        befores = [cleaned.get(key) for key in ("connected_before", "active_before")]
        before = min((bound for bound in befores if bound), default=None)
        if after and before and after > before:
            return [*self.filterset.notices, _empty_window(after, before)]
        return self.filterset.notices

    def reading(self, counted: int | None, cap: int) -> Reading:
        """How a page of this search reads its rows (``ConnectionLogQuerySet.first_rows``,
        ``newest_first``), given ``counted``, its ``capped_count(cap)`` when counted first
        (``count_first``), else ``None``:

        * no key in ``q``: newest month first (``by_month``): this month fills the page of
          the whole log, and the planning of the older months is spared. Not for a filtered
          search: its matches may be too sparse for this month to fill a page, and then two
          queries cost more than one (at 30M, ``workspace_owner:ana-young2``, 3,831 matches
          and 77 this month: 9.8 ms against 6.8);
        * free text with at most ``cap`` and ``FEW_MATCHES`` matches: sorted (``sort``).
          Free text is ``ILIKE '%word%'``, and PostgreSQL never estimates such a pattern
          below 0.01 % of the rows: at 30M rows it expects 10,000 matches where a name has
          1,714, so it walks the time index for a page and tests 1.8M rows (1.85 s, where
          sorting the 1,714 takes 13 ms: bench/README.md). The other keys are estimated
          from column statistics, and where an index gives their matches in order the walk
          is faster;
        * otherwise one query, as PostgreSQL plans it.
        """
        if not self.terms:
            return Reading(by_month=True)
        if self._has_free_text and counted is not None and counted <= min(cap, FEW_MATCHES):
            return Reading(sort=True)
        return WALK

    def count_first(self, cap: int) -> int | None:
        """The ``capped_count(cap)`` of the matches when ``reading`` needs it before the
        rows are read (``q`` has free text), else ``None``: the API counts those after
        reading, while the access log's entry is being written beside it."""
        return self.matching.capped_count(cap) if self._has_free_text else None

    @property
    def _has_free_text(self) -> bool:
        return FREE_TEXT_KEY in self.terms

    @property
    def window(self) -> TimeWindow:
        cleaned = self.filterset.form.cleaned_data
        connected = [cleaned.get(key) for key in ("connected_after", "connected_before")]
        active = [cleaned.get(key) for key in ("active_after", "active_before")]
        after, before = (c or a for c, a in zip(connected, active, strict=True))
        by_activity = connected[0] is None and active[0] is not None  # the range's start
        return TimeWindow(after, before, by_activity)


def _empty_window(after: dt.datetime, before: dt.datetime) -> str:
    """The notice of connect times bounded from after their upper bound (a custom range typed
    the wrong way round): it finds nothing, and Coder answers it with no rows and no error."""
    return (
        f"The time window is empty: it starts at {format_time(after)}, after it ends "
        f"at {format_time(before)}."
    )
