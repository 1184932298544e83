"""Keys of dropped months (PostgreSQL): cleared after the purge, in batches, and merges stay
exact before, during and after: a disconnect of a connection whose month is gone neither
brings its row back nor merges into another."""

import datetime as dt
import threading
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db import connections as db_connections
from django.utils import timezone

from connlogs import retention
from connlogs.ingest import record_events
from connlogs.models import ConnectionKey, ConnectionLog
from connlogs.storage import keys, partitions
from tests.conftest import requires_postgres
from tests.factories import WorkspaceFactory

pytestmark = [requires_postgres, pytest.mark.django_db]


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def drop_connections(count: int) -> dict:
    """``count`` connections opened in a month wholly past 100 days, its partition dropped by a
    purge that left their keys (``clear_keys=False``)."""
    now = timezone.now()
    month = partitions.month_start(now - dt.timedelta(days=150))
    partitions.ensure(now, since=month, ahead=1)
    ws = WorkspaceFactory()
    ids = [uuid.uuid4() for _ in range(count)]
    record_events([event("connect", ws, cid, month + dt.timedelta(days=2)) for cid in ids])
    result = retention.purge(now - dt.timedelta(days=100), clear_keys=False)
    assert [p.name for p in result.dropped] == [partitions.partition_name(month)]
    assert ConnectionLog.objects.count() == 0
    return {"workspace": ws, "ids": ids, "cutoff": now - dt.timedelta(days=100)}


@pytest.fixture
def dropped(db):
    return drop_connections(3)


def event(action: str, ws, cid: uuid.UUID, when: dt.datetime) -> dict:
    return {
        "action": action,
        "time": iso(when),
        "type": "ssh",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": str(cid),
    }


def keys_of(cid: uuid.UUID) -> list:
    return list(ConnectionKey.objects.filter(connection_id=cid).values_list("log_id", flat=True))


def test_the_purge_clears_the_keys_of_the_months_it_dropped_after_them(db):
    now = timezone.now()
    month = partitions.month_start(now - dt.timedelta(days=150))
    partitions.ensure(now, since=month, ahead=1)
    ws = WorkspaceFactory()
    record_events(
        [event("connect", ws, uuid.uuid4(), month + dt.timedelta(hours=h)) for h in (1, 2)]
    )
    kept = uuid.uuid4()
    record_events([event("connect", ws, kept, now - dt.timedelta(days=1))])
    out = StringIO()
    call_command("purge_connection_logs", "--older-than", "100d", stdout=out)
    assert "Dropped partition" in out.getvalue()
    assert "Cleared 2 connection keys of rows no longer kept" in out.getvalue()
    assert list(ConnectionKey.objects.values_list("connection_id", flat=True)) == [kept]


def test_stale_keys_are_cleared_in_batches(dropped):
    assert ConnectionKey.objects.count() == 3
    with connection.cursor() as cursor:
        first = keys.stale_keys(cursor, dropped["cutoff"], None, 2)
        second = keys.stale_keys(cursor, dropped["cutoff"], first[-1], 2)
    assert len(first) == 2 and len(second) == 1
    assert {key.connection_id for key in first + second} == set(dropped["ids"])
    assert retention.clear_stale_keys(dropped["cutoff"], batch_size=2) == 3
    assert ConnectionKey.objects.count() == 0


@pytest.mark.parametrize("cleared_first", [False, True], ids=["key-left", "key-cleared"])
def test_a_disconnect_of_a_dropped_connection_makes_one_new_closed_row(dropped, cleared_first):
    if cleared_first:
        retention.clear_stale_keys(dropped["cutoff"])
    ws, cid = dropped["workspace"], dropped["ids"][0]
    ended = timezone.now() - dt.timedelta(hours=1)
    record_events([event("disconnect", ws, cid, ended)])
    rows = list(ConnectionLog.objects.filter(connection_id=cid))
    # Not the dropped connect brought back: a closed row of the disconnect alone (Coder's
    # rule for a disconnect without its connect), and the key names it.
    assert len(rows) == 1
    assert rows[0].connect_time == rows[0].disconnect_time == ended
    assert keys_of(cid) == [rows[0].id]
    # A second disconnect merges into that row; no third row, nothing changed.
    record_events([event("disconnect", ws, cid, ended + dt.timedelta(minutes=5))])
    assert list(ConnectionLog.objects.filter(connection_id=cid)) == rows
    assert ConnectionLog.objects.get(id=rows[0].id).disconnect_time == ended
    # The other connections' keys are still stale, and clearing leaves this one alone.
    retention.clear_stale_keys(dropped["cutoff"])
    assert keys_of(cid) == [rows[0].id]
    assert ConnectionKey.objects.count() == 1


def test_a_key_taken_over_while_it_is_being_cleared_stays(dropped):
    ws, cid = dropped["workspace"], dropped["ids"][0]
    with connection.cursor() as cursor:
        found = keys.stale_keys(cursor, dropped["cutoff"], None, 10)
    assert cid in {key.connection_id for key in found}
    # Between the read and the delete, the connection comes back (a reused connection id):
    # the new row takes its key over.
    again = timezone.now() - dt.timedelta(minutes=10)
    record_events([event("connect", ws, cid, again)])
    row = ConnectionLog.objects.get(connection_id=cid)
    with connection.cursor() as cursor:
        assert keys.delete_keys(cursor, found) == 2
    assert keys_of(cid) == [row.id]
    # and its disconnect closes that row, no second row.
    record_events([event("disconnect", ws, cid, again + dt.timedelta(minutes=1))])
    assert ConnectionLog.objects.filter(connection_id=cid).count() == 1
    assert ConnectionLog.objects.get(id=row.id).disconnect_time == again + dt.timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
def test_two_writers_closing_the_same_dropped_connection_make_one_row():
    # The race: both writers find the key naming a gone row; one takes it over for its new
    # row while the other waits on that key, which must then see the first one's row (and
    # merge into it, after the retry) rather than take the key a second time.
    dropped = drop_connections(30)
    ws, ids = dropped["workspace"], dropped["ids"]
    ended = timezone.now() - dt.timedelta(hours=1)
    both, failures = threading.Barrier(2), []

    def close_each(offset: int) -> None:
        try:
            for cid in ids:
                both.wait(timeout=30)
                when = ended + dt.timedelta(seconds=offset)
                record_events([event("disconnect", ws, cid, when)])
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            failures.append(error)
            both.abort()
        finally:
            db_connections.close_all()

    writers = [threading.Thread(target=close_each, args=(i,)) for i in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    for cid in ids:
        rows = list(ConnectionLog.objects.filter(connection_id=cid).values_list("id", flat=True))
        assert len(rows) == 1, cid
        assert keys_of(cid) == rows
