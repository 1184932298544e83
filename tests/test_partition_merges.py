"""Concurrent writers on the partitioned log (PostgreSQL): the merge key held by the key
table keeps one row per connection when its connect and its disconnect fall in different
months, when one of them is in the DEFAULT partition, and while maintenance moves a month's
rows out of the DEFAULT partition into their new partition."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection, connections

from connlogs.ingest import record_events
from connlogs.models import ConnectionKey, ConnectionLog
from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.factories import WorkspaceFactory
from tests.test_rollups import agent, rollup_totals, row_totals

UTC = dt.UTC
WRITERS = 8
# Months no other test partitions (their rows would otherwise sit in the DEFAULT partition).
BOUNDARY = dt.datetime(2024, 3, 1, tzinfo=UTC)
MOVED_MONTH = dt.datetime(2023, 6, 1, tzinfo=UTC)


@pytest.fixture
def made_partitions(transactional_db):
    """``make(since, until)``: partitions for those months, dropped again after the test
    (the test database outlives a transactional test's truncation)."""
    made: list[str] = []

    def make(since: dt.datetime, until: dt.datetime) -> None:
        made.extend(partitions.ensure(until, since=since, ahead=0))

    yield make
    for name in made:
        partitions.drop(name)


def _race(ws, cid: uuid.UUID, connected: dt.datetime, disconnected: dt.datetime) -> list:
    """``WRITERS`` threads record the connect (odd) or the disconnect (even) of ``cid`` at the
    same moment; the results and any errors."""
    barrier = threading.Barrier(WRITERS)
    results, errors = [], []

    def report(index: int) -> None:
        try:
            if index % 2:
                event = agent(ws, "connect", connected, cid)
            else:
                event = agent(ws, "disconnect", disconnected, cid, exit_code=0)
            barrier.wait()
            results.append(record_events([event]))
        except Exception as error:  # noqa: BLE001 - shown by the caller's assertion
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def partition_of(row_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM connlogs_connectionlog WHERE id = %s", [row_id]
        )
        return cursor.fetchone()[0]


def assert_one_closed_row_per_connection(cids: list[uuid.UUID]) -> None:
    """Each connection is one closed row with its key; the rollup counts the rows exactly."""
    for cid in cids:
        [row] = ConnectionLog.objects.filter(connection_id=cid)
        assert row.disconnect_time is not None and row.code == 0
        assert ConnectionKey.objects.get(connection_id=cid).log_id == row.id
    assert ConnectionKey.objects.count() == ConnectionLog.objects.count() == len(cids)
    assert rollup_totals() == row_totals()


@requires_postgres
@pytest.mark.parametrize(
    "partitioned_months",
    [pytest.param(2, id="both-months-partitioned"), pytest.param(1, id="connect-in-default")],
)
def test_concurrent_writers_merge_one_connection_across_a_month_boundary(
    made_partitions, partitioned_months
):
    """The connect is in the last millisecond of February, the disconnect in March; with
    ``connect-in-default`` February has no partition (its rows are in the DEFAULT one)."""
    connected = BOUNDARY - dt.timedelta(milliseconds=1)
    disconnected = BOUNDARY + dt.timedelta(seconds=1)
    made_partitions(connected if partitioned_months == 2 else BOUNDARY, disconnected)
    ws = WorkspaceFactory()
    cids = []
    for _ in range(5):
        cid = uuid.uuid4()
        cids.append(cid)
        results = _race(ws, cid, connected, disconnected)
        assert sum(result.created for result in results) == 1
        assert sum(result.updated for result in results) <= 1
    assert_one_closed_row_per_connection(cids)
    months = {partition_of(row.id) for row in ConnectionLog.objects.all()}
    # Whichever event won, its row is in the partition of its connect time.
    expected = {
        partitions.partition_name(BOUNDARY),
        partitions.partition_name(connected)
        if partitioned_months == 2
        else partitions.DEFAULT_PARTITION,
    }
    assert months <= expected


@requires_postgres
def test_writers_merge_while_a_month_is_moved_out_of_the_default_partition(made_partitions):
    """Connects of a month without a partition land in DEFAULT; their disconnects race with
    the maintenance that makes the month's partition and moves the rows into it."""
    ws = WorkspaceFactory()
    connected = MOVED_MONTH + dt.timedelta(days=3)
    cids = [uuid.uuid4() for _ in range(200)]
    record_events([agent(ws, "connect", connected, cid) for cid in cids])
    assert {partition_of(row.id) for row in ConnectionLog.objects.all()} == {
        partitions.DEFAULT_PARTITION
    }
    errors, started = [], threading.Barrier(3)

    def disconnect(part: list[uuid.UUID]) -> None:
        try:
            started.wait()
            for index in range(0, len(part), 10):
                later = connected + dt.timedelta(hours=1)
                events = [agent(ws, "disconnect", later, cid, exit_code=0) for cid in part]
                record_events(events[index : index + 10])
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=disconnect, args=(cids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        started.wait()
        made_partitions(MOVED_MONTH, MOVED_MONTH)
    finally:
        for thread in threads:
            thread.join()
    assert errors == []
    assert {partition_of(row.id) for row in ConnectionLog.objects.all()} == {
        partitions.partition_name(MOVED_MONTH)
    }
    assert_one_closed_row_per_connection(cids)
