"""On the partitioned log (PostgreSQL) a feed read looks its rows up only in the months their
ids name: it does not probe, or read, every monthly partition."""

from __future__ import annotations

import datetime as dt
import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs.feed.reading import EntryReader
from connlogs.search.request import LogSearch
from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.feed.conftest import connect, record


def _relations(plan: dict) -> set[str]:
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _relations(child)
    return found


@requires_postgres
def test_a_feed_read_touches_only_the_partitions_of_its_rows(world):
    partitions.ensure(timezone.now(), since=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    record(*[connect(world.acme_ws) for _ in range(5)])  # July 2025 (the feed's clock)

    with CaptureQueriesContext(connection) as queries:
        page = EntryReader(LogSearch.for_user(world.owner, ""), world.owner).page(after=0)
    assert len(page.entries) == 5

    log_reads = [q["sql"] for q in queries if '"connlogs_connectionlog"' in q["sql"]]
    assert len(log_reads) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + log_reads[0])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    touched = {name for name in _relations(plan[0]["Plan"]) if "connectionlog" in name}
    assert touched == {"connlogs_connectionlog_p2025_07"}
