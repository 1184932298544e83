"""Paginators for tables too large to count: the admin's connection-log list.

Django's admin counts the whole filtered table for its page links (``SELECT COUNT(*)``). On a
table of millions of rows that is a full scan on every page view. ``CappedCountPaginator``
counts at most ``cap + 1`` rows (``SELECT COUNT(*) FROM (… LIMIT cap+1)``), so the cost is
bounded whatever the table size, and the page links stop at ``cap`` rows: past that, narrowing
the list (search, filters) is the way in, exactly as with the API's ``count_cap``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

DEFAULT_CAP = 10_000


def admin_count_cap() -> int:
    return int(getattr(settings, "CONNLOGS_ADMIN_COUNT_CAP", DEFAULT_CAP))


class CappedCountPaginator(Paginator):
    """A paginator whose ``count`` stops at ``cap``; ``is_capped`` says whether it did."""

    def __init__(self, *args, cap: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Never below one page: the admin shows an unsliced list when it thinks everything
        # fits on one page.
        self.cap = max(admin_count_cap() if cap is None else cap, self.per_page)

    @cached_property
    def _bounded_count(self) -> int:
        # ``values("pk")`` keeps the subquery narrow (an index-only scan where possible);
        # ordering is irrelevant to a count and would only cost a sort.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._bounded_count, self.cap)

    @cached_property
    def is_capped(self) -> bool:
        return self._bounded_count > self.cap

    @cached_property
    def estimated_total(self) -> int | None:
        """PostgreSQL's row estimate for an unfiltered, capped list; ``None`` otherwise.

        ``pg_class.reltuples`` is kept up to date by (auto)vacuum and analyze: free to read,
        close enough to tell "ten thousand" from "ten million".
        """
        queryset = self.object_list
        if not self.is_capped or queryset.query.where:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] > 0 else None
