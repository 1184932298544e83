"""A page's rows read newest month first (``ConnectionLogQuerySet.first_rows`` and ``page``
with ``Reading(by_month=True)``: the unfiltered list) are exactly the rows of the single
newest-first query, and on PostgreSQL the first read plans only the partitions from the
cursor's (or this) month on (the speed: bench/README.md)."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs.models import ConnectionLog
from connlogs.querysets import Reading
from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.factories import ConnectionLogFactory, WorkspaceFactory

LIMITS = (1, 2, 3, 4, 7, 12, 40)
BY_MONTH = Reading(by_month=True)


@pytest.fixture
def spread(db):
    """Rows over four months, this month's few; two at the same instant; one at the very
    start of this month and one a microsecond before; one far ahead and one long ago (the
    DEFAULT partition on PostgreSQL)."""
    now = timezone.now()
    this_month = partitions.month_start(now)
    first = partitions.month_start(now - dt.timedelta(days=100))
    if connection.vendor == "postgresql":
        partitions.ensure(now, since=first, ahead=1)
    ws = WorkspaceFactory()
    times = [first + dt.timedelta(days=d, hours=h) for d in (1, 20, 40, 61, 85) for h in (1, 5)]
    times += [this_month, this_month - dt.timedelta(microseconds=1)]
    times += [now - dt.timedelta(minutes=1)] * 2
    times += [dt.datetime(2099, 1, 1, tzinfo=dt.UTC), dt.datetime(2001, 1, 1, tzinfo=dt.UTC)]
    for moment in times:
        ConnectionLogFactory(workspace=ws, connect_time=moment)
    return list(ConnectionLog.objects.newest_first())


def ids(rows) -> list:
    return [row.id for row in rows]


def test_the_first_rows_are_the_single_querys(spread):
    for limit in LIMITS:
        expected = ids(ConnectionLog.objects.newest_first()[:limit])
        assert ids(ConnectionLog.objects.first_rows(limit, reading=BY_MONTH)) == expected, limit


def test_the_rows_after_every_cursor_are_the_single_querys(spread):
    ordered = ConnectionLog.objects.newest_first()
    for cursor in spread:
        for limit in LIMITS:
            expected = ids(ordered.after(cursor)[:limit])
            got = ids(ConnectionLog.objects.first_rows(limit, after=cursor, reading=BY_MONTH))
            assert got == expected, (cursor.connect_time, limit)


def test_every_offset_page_is_the_single_querys(spread):
    """Offset pages read this month first: within it, across the month's start (the rest
    from older months) and past it (this month holds none of the page: one query)."""
    ordered = ConnectionLog.objects.newest_first()
    for offset in range(1, len(spread) + 2):
        for limit in LIMITS:
            expected = ids(ordered[offset : offset + limit])
            got = ids(ConnectionLog.objects.page(offset, limit, BY_MONTH))
            assert got == expected, (offset, limit)


def _planned_partitions(sql: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return set(re.findall(r" on (connlogs_connectionlog_\w+)", plan))


@requires_postgres
def test_the_first_read_plans_only_the_partitions_from_the_cursors_month(spread):
    old = next(row for row in spread if row.connect_time.year < 2099 and row.connect_time.day == 2)
    month = partitions.partition_name(partitions.month_start(old.connect_time))
    with CaptureQueriesContext(connection) as captured:
        ConnectionLog.objects.first_rows(1, after=old, reading=BY_MONTH)
        ConnectionLog.objects.first_rows(1, reading=BY_MONTH)
    by_cursor, first_page = (q["sql"] for q in captured.captured_queries)
    assert _planned_partitions(by_cursor) == {month}
    this_month = partitions.partition_name(partitions.month_start(timezone.now()))
    newest = _planned_partitions(first_page)
    assert this_month in newest and month not in newest
    everything = _planned_partitions(str(ConnectionLog.objects.newest_first()[:1].query))
    assert len(newest) < len(everything)


def _api_chain(client, limit: int) -> list[list[str]]:
    """Every page of the unfiltered list by ``after_id``, ``limit`` rows each."""
    pages, after = [], None
    while True:
        params = {"limit": limit, **({"after_id": after} if after else {})}
        found = [
            row["id"]
            for row in client.get("/api/v2/connectionlog", params).json()["connection_logs"]
        ]
        if not found:
            return pages
        pages.append(found)
        after = found[-1]


def test_the_unfiltered_list_pages_as_the_single_query_read_newest_month_first(spread, owner_api):
    """The unfiltered list is read newest month first (``LogSearch.reading``): its pages by
    ``after_id`` are those of the single query, and on PostgreSQL its rows are read from
    the start of this month first."""
    everything = [str(row.id) for row in spread]
    with CaptureQueriesContext(connection) as captured:
        chains = {limit: _api_chain(owner_api, limit) for limit in (1, 3, 5)}
    for limit, pages in chains.items():
        expected = [everything[i : i + limit] for i in range(0, len(everything), limit)]
        assert pages == expected, limit
    if connection.vendor == "postgresql":
        split = partitions.month_start(timezone.now()).strftime("%Y-%m-%d")
        bound = f"connect_time\" >= '{split}"
        pages = [q["sql"] for q in captured.captured_queries if " JOIN " in q["sql"]]
        assert any(bound in sql for sql in pages)


@requires_postgres
def test_an_offset_page_of_this_month_plans_only_the_partitions_from_its_start(spread):
    """Both queries of the deferred join (the skipped rows and the shown ones) are bounded
    by this month's start, so neither plans an older month's partition."""
    old = next(row for row in spread if row.connect_time.year < 2099 and row.connect_time.day == 2)
    old_month = partitions.partition_name(partitions.month_start(old.connect_time))
    this_month = partitions.partition_name(partitions.month_start(timezone.now()))
    with CaptureQueriesContext(connection) as captured:
        rows = ConnectionLog.objects.page(1, 2, BY_MONTH)
    assert ids(rows) == ids(spread[1:3])
    (sql,) = (q["sql"] for q in captured.captured_queries)
    planned = _planned_partitions(sql)
    assert this_month in planned and old_month not in planned
