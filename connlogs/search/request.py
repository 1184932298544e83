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

from django.db.models import QuerySet

from connlogs.models import ConnectionLog
from connlogs.privacy.identities import Identities
from connlogs.search.filterset import ConnectionLogFilterSet
from connlogs.search.grammar import Validation


def query_text(params) -> str:
    """The ``q`` of a request's parameters (a ``QueryDict``) as sent; ``""`` when absent.

    Given twice (``?q=a&q=b``), the first counts, as in Coder, whose handlers read it with
    Go's ``url.Values.Get``; Django's ``QueryDict.get`` would take the last.
    """
    given = params.getlist("q")
    return given[0] if given else ""


@dataclass(frozen=True)
class TimeWindow:
    """The bounds ``q`` puts on ``connect_time`` (inclusive), ``None`` where it sets none."""

    after: dt.datetime | None = None
    before: dt.datetime | None = None


class LogSearch:
    """A caller's search of the connection log.

    ``visible``   the rows the caller may read (``ConnectionLog.objects.visible_to``);
    ``filterset`` ``q`` parsed by the grammar and bound to the one FilterSet;
    ``validations`` the contract's errors of ``q`` (value errors, then unknown keys), ``[]``
                  when it is good: read ``matching`` and ``window`` only then;
    ``matching``  the visible rows that ``q`` matches (a lazy queryset);
    ``terms``     ``{key: value}`` as parsed (lower-cased), for menus and links;
    ``window``    the ``connected_after``/``connected_before`` bounds, as times;
    ``identities`` who is shown as a pseudonym (data protection mode), and the reveals.
    """

    def __init__(self, request, q: str):
        self.request = request
        self.q = q
        self.visible: QuerySet = ConnectionLog.objects.visible_to(request.user)
        self.filterset = ConnectionLogFilterSet.from_query(q, self.visible, request)

    @classmethod
    def from_request(cls, request, q: str | None = None) -> LogSearch:
        """The search a request asks for: ``q`` from its query string unless given."""
        if q is None:
            q = query_text(getattr(request, "query_params", request.GET))
        return cls(request, q)

    @cached_property
    def identities(self) -> Identities:
        return Identities.for_viewer(self.request.user)

    @cached_property
    def validations(self) -> list[Validation]:
        return self.filterset.validations

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
    def window(self) -> TimeWindow:
        cleaned = self.filterset.form.cleaned_data
        return TimeWindow(cleaned.get("connected_after"), cleaned.get("connected_before"))
