"""Retention on the partitioned log (PostgreSQL): expired months are dropped whole, the rest
trimmed row by row, while events are recorded and people read; keys and rollups follow."""

import datetime as dt
import threading
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from connlogs.ingest import record_events
from connlogs.models import ConnectionKey, ConnectionLog, ConnectionRollup
from connlogs.storage import partitions
from connlogs.storage.cells import COLUMNS
from tests.conftest import as_user, requires_postgres
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def rollup_total() -> int:
    rows = ConnectionRollup.objects.values_list(*COLUMNS)
    return sum(sum(row) for row in rows)


@pytest.fixture
def old_month(db):
    """A month wholly older than 100 days, with its partition, and its first instant."""
    now = timezone.now()
    month = partitions.month_start(now - dt.timedelta(days=150))
    partitions.ensure(now, since=month, ahead=1)
    return month


@requires_postgres
@pytest.mark.django_db
def test_dry_run_names_the_partitions_and_the_rows(old_month):
    ws = WorkspaceFactory()
    ConnectionLogFactory.create_batch(
        3, workspace=ws, connect_time=old_month + dt.timedelta(days=2)
    )
    ConnectionLogFactory(workspace=ws, connect_time=timezone.now() - dt.timedelta(days=101))
    ConnectionLogFactory(workspace=ws, connect_time=timezone.now() - dt.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{partitions.partition_name(old_month)}"')
    out = StringIO()
    call_command("purge_connection_logs", "--older-than", "100d", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"would drop partition {partitions.partition_name(old_month)}" in text
    assert "about 3 rows" in text
    assert "would delete 1 connection logs older than 100 days" in text
    assert ConnectionLog.objects.count() == 5


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_month_is_dropped_while_events_are_recorded_and_read(old_month):
    now = timezone.now()
    ws = WorkspaceFactory(name="busy")
    reporter = UserFactory(site_roles=["connection-reporter"])
    reader = UserFactory(site_roles=["owner"])
    expired = [
        ConnectionLogFactory(workspace=ws, connect_time=old_month + dt.timedelta(hours=i))
        for i in range(60)
    ]
    recent = [
        ConnectionLogFactory(workspace=ws, connect_time=now - dt.timedelta(days=d))
        for d in (1, 5, 50)
    ]
    stop, failures, statuses = threading.Event(), [], []

    def report(index: int) -> None:
        client = as_user(reporter)
        try:
            sent = 0
            while not stop.is_set():
                # New sessions now, and disconnects of the expired ones (which either close
                # their row before it goes, or make a closed row of today).
                cid = uuid.uuid4()
                events = [
                    {"action": "connect", "time": iso(timezone.now()), "type": "ssh",
                     "workspace_id": str(ws.id), "agent_name": f"a{index}",
                     "connection_id": str(cid)},
                    {"action": "disconnect", "time": iso(timezone.now()), "type": "ssh",
                     "workspace_id": str(ws.id), "agent_name": "main",
                     "connection_id": str(expired[sent % len(expired)].connection_id)},
                ]  # fmt: skip
                response = client.post(
                    "/api/v2/connectionlog/events", {"events": events}, format="json"
                )
                statuses.append(response.status_code)
                sent += 1
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            failures.append(error)
        finally:
            connections.close_all()

    def read() -> None:
        client = as_user(reader)
        try:
            while not stop.is_set():
                for q in ("", "type:ssh", "workspace_owner:me"):
                    response = client.get("/api/v2/connectionlog", {"q": q, "limit": 25})
                    statuses.append(response.status_code)
                # A lookup by id (the keyset cursor) of a row that is kept.
                response = client.get(
                    "/api/v2/connectionlog", {"after_id": str(recent[0].id), "limit": 5}
                )
                statuses.append(response.status_code)
        except Exception as error:  # noqa: BLE001
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    try:
        while len(statuses) < 6:
            threading.Event().wait(0.05)
        out = StringIO()
        call_command("purge_connection_logs", "--older-than", "100d", stdout=out)
        while len(statuses) < 30:
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == [] and set(statuses) == {200}, (failures, set(statuses))
    assert f"Dropped partition {partitions.partition_name(old_month)}" in out.getvalue()
    assert partitions.partition_name(old_month) not in {p.name for p in _layout()}
    cutoff = now - dt.timedelta(days=100)
    assert not ConnectionLog.objects.filter(connect_time__lt=cutoff).exists()
    kept = {row.id for row in recent}
    assert kept <= set(ConnectionLog.objects.values_list("id", flat=True))
    # Keys name rows that exist, one per row of a connection; the rollup counts every row.
    keyed = ConnectionLog.objects.filter(connection_id__isnull=False).count()
    assert ConnectionKey.objects.count() == keyed
    assert rollup_total() == ConnectionLog.objects.count()


def _layout():
    with connection.cursor() as cursor:
        return partitions.partitions(cursor)


@requires_postgres
@pytest.mark.django_db
def test_purge_drops_the_month_and_trims_the_rest_exactly(old_month):
    ws = WorkspaceFactory()
    now = timezone.now()
    cid = uuid.uuid4()
    record_events(
        [
            {"action": "connect", "time": iso(old_month + dt.timedelta(days=1)), "type": "ssh",
             "workspace_id": str(ws.id), "agent_name": "main", "connection_id": str(cid)},
        ]
    )  # fmt: skip
    ConnectionLogFactory(workspace=ws, connect_time=now - dt.timedelta(days=101))
    keep = ConnectionLogFactory(workspace=ws, connect_time=now - dt.timedelta(days=99))
    out = StringIO()
    call_command("purge_connection_logs", "--older-than", "100d", stdout=out)
    assert "Deleted 1 connection logs older than 100 days" in out.getvalue()
    assert "and 1 whole months" in out.getvalue()
    assert list(ConnectionLog.objects.all()) == [keep]
    assert list(ConnectionKey.objects.values_list("log_id", flat=True)) == [keep.id]
    assert rollup_total() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held", ["connlogs_user", "connlogs_workspace", "connlogs_organization"])
def test_dropping_a_month_never_deadlocks_with_a_writers_foreign_key_checks(old_month, held):
    """A writer's foreign-key checks lock the users, workspaces and organizations its rows
    name (``FOR KEY SHARE``), one table after another; dropping a month's table drops its
    foreign keys, which locks those same tables. Taken in one transaction, in an order of
    its own, the drop and the writer could each hold a table the other waited for (a
    deadlock, seen in CI: one of them failed). Whichever table the writer holds first, the
    drop now waits for it without holding another, and both finish."""
    row = ConnectionLogFactory(connect_time=old_month + dt.timedelta(hours=1))
    named = {
        "connlogs_user": row.workspace_owner_id,
        "connlogs_workspace": row.workspace_id,
        "connlogs_organization": row.organization_id,
    }
    holding, failures = threading.Event(), []

    def writer() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                lock = 'SELECT 1 FROM "{}" WHERE id = %s FOR KEY SHARE'
                cursor.execute(lock.format(held), [named[held]])
                holding.set()
                time.sleep(1.5)  # the drop is waiting for ``held`` by now
                for table, key in named.items():
                    cursor.execute(lock.format(table), [key])
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            failures.append(error)
        finally:
            holding.set()
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait()
    try:
        partitions.drop(partitions.partition_name(old_month))
    except Exception as error:  # noqa: BLE001
        failures.append(error)
    thread.join()
    assert failures == []
    assert partitions.partition_name(old_month) not in {
        p.name for p in partitions.partitions(connection.cursor())
    }


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_month_left_detached_by_a_stopped_drop_is_dropped_by_the_next_purge(old_month):
    """A drop detaches the month, then drops its foreign keys and the table; when it stops
    between (a lock not had in time, a killed job), the month's rows are out of every read
    but still on disk, and its foreign keys still hold the users, workspaces and
    organizations it names. The next purge finds it and finishes it; a detached month not
    yet expired is left alone."""
    ws = WorkspaceFactory()
    ConnectionLogFactory.create_batch(
        3, workspace=ws, connect_time=old_month + dt.timedelta(days=1)
    )
    recent = partitions.month_start(timezone.now() - dt.timedelta(days=40))
    partitions.ensure(timezone.now(), since=recent, ahead=0)
    stopped, kept = partitions.partition_name(old_month), partitions.partition_name(recent)
    with connection.cursor() as cursor:
        for name in (stopped, kept):
            cursor.execute(f'ALTER TABLE "{partitions.LOG_TABLE}" DETACH PARTITION "{name}"')
    try:
        out = StringIO()
        call_command("purge_connection_logs", "--older-than", "100d", "--dry-run", stdout=out)
        assert f"would drop partition {stopped}" in out.getvalue()
        assert "detached by a purge that stopped" in out.getvalue()
        call_command("purge_connection_logs", "--older-than", "100d", stdout=StringIO())
        with connection.cursor() as cursor:
            left = {p.name for p in partitions.detached_months(cursor)}
        assert left == {kept}
        ws.delete()  # no detached month's foreign key holds it any more
    finally:
        with connection.cursor() as cursor:
            for name in (stopped, kept):  # the test database is flushed after
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
