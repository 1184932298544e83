"""Lookups by id on the partitioned log (PostgreSQL) read one partition: the detail page's
query (the change feed's reads: tests/feed/test_feed_partitions.py). Rows of random (v4)
ids, written before ids carried their time, are still found.

These read plans, as tests/test_search_plans.py does; the speed is measured in bench/."""

import datetime as dt
import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs.feed import reading, writing
from connlogs.search.request import LogSearch
from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory

pytestmark = [requires_postgres, pytest.mark.django_db]


@pytest.fixture
def months(db):
    """Rows in each of four monthly partitions (and their feed entries, in order), plus
    one row of a random v4 id; the owner who reads them."""
    now = timezone.now()
    first = partitions.month_start(now - dt.timedelta(days=100))
    partitions.ensure(now, since=first, ahead=1)
    ws = WorkspaceFactory()
    rows, month = [], first
    for _ in range(4):
        rows += [
            ConnectionLogFactory(workspace=ws, connect_time=month + dt.timedelta(hours=h))
            for h in range(1, 4)
        ]
        month = partitions.next_month(month)
    legacy = ConnectionLogFactory(
        workspace=ws, id=uuid.uuid4(), connect_time=first + dt.timedelta(days=3)
    )
    writing.record(connection.alias, [row.id for row in rows] + [legacy.id], [])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connlogs_connectionlog")
    return {"rows": rows, "legacy": legacy, "owner": UserFactory(site_roles=["owner"])}


def scanned_partitions(plan: str) -> set[str]:
    """The partitions a plan reads (an ANALYZE plan: those executed at least once)."""
    found = set()
    for line in plan.splitlines():
        match = re.search(r" on (connlogs_connectionlog_\w+)", line)
        if match and "never executed" not in line:
            found.add(match.group(1))
    return found


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def explain(sql: str, analyze: bool = False) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {'(ANALYZE) ' if analyze else ''}{sql}")
        return "\n".join(line for (line,) in cursor.fetchall())


def logged_query(captured, needle: str) -> str:
    found = [q["sql"] for q in captured.captured_queries if needle in q["sql"]]
    assert found, [q["sql"] for q in captured.captured_queries]
    return found[0]


def test_the_detail_page_reads_one_partition(months):
    row = months["rows"][4]
    client = signed_in(months["owner"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/connectionlog/{row.id}")
    assert response.status_code == 200
    sql = logged_query(captured, f'"connlogs_connectionlog"."id" = \'{row.id.hex}\'')
    assert scanned_partitions(explain(sql, analyze=True)) == {
        partitions.partition_name(partitions.month_start(row.connect_time))
    }


def test_a_row_of_a_random_id_is_still_found_by_the_detail_page(months):
    client = signed_in(months["owner"])
    response = client.get(f"/connectionlog/{months['legacy'].id}")
    assert response.status_code == 200


def test_the_change_feed_finds_the_row_of_a_random_id(months):
    search = LogSearch.for_user(months["owner"], "")
    page = reading.read_changes(search, after=0, limit=100)
    assert [change.row.id for change in page.changes] == [
        *(row.id for row in months["rows"]),
        months["legacy"].id,
    ]
