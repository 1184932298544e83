"""How connection logs are read: scoping, order, keyset paging and the capped count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connections, models
from django.db.models import F, Q
from django.db.models.fields.tuple_lookups import TupleIn
from django.db.models.functions import Coalesce
from django.utils import timezone

from connlogs import roles
from connlogs.literals import Written
from connlogs.storage.partitions import month_start

# At most this many matches, counted first, may be sorted rather than walked (``newest_first``).
FEW_MATCHES = 2000


@dataclass(frozen=True)
class Reading:
    """How a page reads its rows (``LogSearch.reading``).

    ``sort``: few matches of free text, fetched whole and sorted (``newest_first``);
    ``by_month``: the unfiltered list, read newest month first (``first_rows``, ``page``). Neither:
    one query, as PostgreSQL plans it.
    """

    sort: bool = False
    by_month: bool = False


WALK = Reading()

# ``COALESCE(t, t)`` is ``t`` to the result and to its order, but no index yields it in
# order: ordered by it, the planner fetches the matches by its cheapest route and sorts them.
_SORTED_TIME = Coalesce("connect_time", "connect_time")


# Related columns that no view, export or JSON entry shows (``with_related`` skips them).
_UNSHOWN = (
    "organization__description",
    "organization__created_at",
    "organization__updated_at",
    "workspace_owner__password",
    "workspace_owner__last_login",
    "workspace_owner__name",
    "workspace_owner__avatar_url",
    "workspace_owner__status",
    "workspace_owner__login_type",
    "workspace_owner__site_roles",
    "workspace_owner__last_seen_at",
    "workspace_owner__created_at",
    "workspace_owner__updated_at",
    "user__password",
    "user__last_login",
)


def _month_of(moment: dt.datetime) -> Written:
    """Where the month of ``moment`` starts, written into the SQL on PostgreSQL (``literals``):
    bound, a window's statement got a generic plan that cannot prune months and PostgreSQL
    planned it at every run (3.3 ms for an offset page at 30M, against 1.4 for the one
    query); written, it is one statement a month, pruned when it is planned, once a
    connection."""
    return Written(month_start(moment))


class ConnectionLogQuerySet(models.QuerySet):
    def visible_to(self, user: roles.User) -> ConnectionLogQuerySet:
        """The rows ``user`` may read: the one gate every read of connection logs passes.

        Scoping is an ``IN`` list of organization ids, so it combines with the
        organization-led indexes instead of defeating them with a join.
        """
        readable = roles.readable_organization_ids(user)
        if readable is None:
            return self.all()
        if not readable:
            return self.none()
        return self.filter(organization_id__in=readable)

    def newest_first(self, *, sort: bool = False) -> ConnectionLogQuerySet:
        """Newest first: ``connect_time`` descending, then ``id`` descending.

        ``sort``: the caller counted at most ``FEW_MATCHES`` matches (``Reading.sort``).
        They are then fetched whole by the planner's cheapest route and sorted, a few
        milliseconds, where PostgreSQL would otherwise walk the time index newest first and
        test every row until a page is found: what it does when it expects many matches.
        Where an index gives the matches in order (``user_id, connect_time``) the walk is
        the faster of the two, so the caller asks only where the planner cannot know how
        few they are.
        """
        time = _SORTED_TIME if sort else F("connect_time")
        return self.order_by(time.desc(), F("id").desc())

    def oldest_first(self, *, sort: bool = False) -> ConnectionLogQuerySet:
        """Oldest first (``connect_time``, then ``id``); ``sort`` as in ``newest_first``."""
        time = _SORTED_TIME if sort else F("connect_time")
        return self.order_by(time.asc(), F("id").asc())

    def with_related(self) -> ConnectionLogQuerySet:
        """Everything the JSON contract, the pages and the exports show, in one query.

        Columns nothing shows (password hashes, the owner's profile, descriptions) are left
        out: they were a third of the columns of a page and cost decoding time on every row.
        """
        return self.select_related("organization", "workspace_owner", "user").defer(*_UNSHOWN)

    def page(self, offset: int, limit: int, reading: Reading = WALK) -> list[models.Model]:
        """Rows ``offset`` .. ``offset + limit`` newest first, with everything shown, read
        as ``reading`` says (the first page is ``first_rows``).

        Past the first page the skipped rows are walked in a subquery of ids and times (a
        deferred join, ``(id, connect_time) IN (SELECT id, connect_time ... ORDER BY ...
        OFFSET k LIMIT n)``) that an index-only scan answers, so only the ``limit`` rows
        shown are fetched and joined to users and organizations, not the ``offset`` rows
        skipped. The time lets PostgreSQL probe only the partition of each row shown (other
        databases, with one table and no row-value IN, match ids alone).

        ``reading.by_month`` (PostgreSQL): this month's rows first, as in ``first_rows``.
        Django writes the offset into the SQL, so each offset is a new statement, planned
        when it runs and never prepared: over every partition, the rows of an offset page
        took 8.1–8.9 ms in process at 30M, this month first 5.5–6.1 (bench/README.md,
        "Offset pages and organizations at 30M"). When this month holds no row of the page,
        how many older rows to skip is unknown, and the single query answers.
        """
        if not offset:
            return self.first_rows(limit, reading=reading)
        if not reading.by_month or connections[self.db].vendor != "postgresql":
            return self._skipping(offset, limit, reading)
        split = _month_of(timezone.now())
        rows = self._skipping(offset, limit, reading, since=split)
        if not rows:
            return self._skipping(offset, limit, reading)
        if len(rows) < limit:
            # This month held ``offset + len(rows)`` rows: the rest are the newest older ones.
            rows += self.filter(connect_time__lt=split).first_rows(limit - len(rows))
        return rows

    def _skipping(
        self, offset: int, limit: int, reading: Reading, since: Written | None = None
    ) -> list[models.Model]:
        """``page``'s deferred join, over rows from ``since`` on when given (in the skipped
        rows and in the shown ones, so both queries plan only those months' partitions)."""
        skipped = self.newest_first(sort=reading.sort)
        chosen = self.model._default_manager.all()
        if since is not None:
            skipped = skipped.filter(connect_time__gte=since)
            chosen = chosen.filter(connect_time__gte=since)
        if connections[self.db].vendor != "postgresql":
            shown = skipped.values("id")[offset : offset + limit]
            chosen = chosen.filter(id__in=shown)
        else:
            shown = skipped.values("id", "connect_time")[offset : offset + limit]
            chosen = chosen.filter(TupleIn((F("id"), F("connect_time")), shown.query))
        return list(chosen.newest_first().with_related())

    def first_rows(
        self, limit: int, *, after: models.Model | None = None, reading: Reading = WALK
    ) -> list[models.Model]:
        """The first ``limit`` rows newest first (after the ``after`` row: keyset paging),
        with everything shown, read as ``reading`` says.

        ``reading.by_month`` (PostgreSQL): PostgreSQL plans a query over every partition
        it cannot rule out before running it, and an unbounded one rules out none: at 30M
        rows in 17 monthly partitions with 18 indexes each, planning was 1.6–4.0 ms of a
        2–4.5 ms page, and it grows with every month kept. So the rows are read in two
        windows split where the month of the cursor (or of now) starts: that month and
        anything later first (its partition, the months made ahead and DEFAULT), then,
        only when it held fewer than ``limit`` rows, everything earlier. Every row of the
        first window sorts before every row of the second, so the page is exactly the
        single query's. ``LogSearch.reading`` asks for it where this month fills a page:
        where it does not, two queries cost more than the one (bench/README.md,
        "Planning at 30M"). A prepared statement (``project/settings.py``) is not planned
        again, so the windows save little where it is used; behind a transaction pooler
        nothing is prepared and they save the planning still.
        """
        ordered = self.newest_first(sort=reading.sort).with_related()
        if after is not None:
            ordered = ordered.after(after)
        if not reading.by_month or connections[self.db].vendor != "postgresql":
            return list(ordered[:limit])
        split = _month_of(after.connect_time if after is not None else timezone.now())
        rows = list(ordered.filter(connect_time__gte=split)[:limit])
        if len(rows) < limit:
            rows += ordered.filter(connect_time__lt=split)[: limit - len(rows)]
        return rows

    def after(self, row: models.Model) -> ConnectionLogQuerySet:
        """Rows strictly after ``row`` in newest-first order (keyset paging).

        Written as ``t <= T AND (t < T OR id < I)`` so the planner can walk a
        ``(connect_time DESC, id DESC)`` index from the cursor.
        """
        return self.filter(connect_time__lte=row.connect_time).filter(
            Q(connect_time__lt=row.connect_time) | Q(id__lt=row.id)
        )

    def before(self, row: models.Model) -> ConnectionLogQuerySet:
        """Rows strictly before ``row`` in newest-first order (for "previous page" links)."""
        return self.filter(connect_time__gte=row.connect_time).filter(
            Q(connect_time__gt=row.connect_time) | Q(id__gt=row.id)
        )

    def capped_count(self, cap: int) -> int:
        """Count the rows, stopping at ``cap + 1`` (``SELECT count(*) FROM (… LIMIT cap+1)``)."""
        return self.order_by().values("pk")[: cap + 1].count()
