"""record_events: the merging rules of write-api.md section 1, validation, atomicity, races."""

import threading
import uuid

import pytest
from django.db import connection, connections

from connlogs.ingest import EventValidationError, RecordResult, record_events
from connlogs.models import ConnectionLog, Workspace
from tests.conftest import requires_postgres
from tests.factories import WorkspaceFactory


@pytest.fixture
def ws(db):
    return WorkspaceFactory(name="dev")


def agent(ws, action, time, cid, **extra):
    return {
        "action": action,
        "time": time,
        "type": "ssh",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": cid,
        **extra,
    }


def web(ws, time, **extra):
    return {
        "action": "connect",
        "time": time,
        "type": "workspace_app",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        **extra,
    }


CID = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"
T1, T2, T3 = "2025-07-10T10:00:00Z", "2025-07-10T10:05:00Z", "2025-07-10T10:09:00Z"


def test_connect_creates_an_ongoing_row(ws):
    assert record_events([agent(ws, "connect", T1, CID)]) == RecordResult(created=1)
    row = ConnectionLog.objects.get()
    assert row.disconnect_time is None and row.workspace_name == "dev"
    assert row.organization_id == ws.organization_id and row.workspace_owner_id == ws.owner_id


def test_repeated_connect_changes_nothing(ws):
    record_events([agent(ws, "connect", T1, CID, ip="10.0.0.1")])
    assert record_events([agent(ws, "connect", T2, CID, ip="10.0.0.2")]) == RecordResult(
        unchanged=1
    )
    row = ConnectionLog.objects.get()
    assert (row.connect_time.minute, row.ip) == (0, "10.0.0.1")


def test_disconnect_fills_only_empty_fields_and_second_disconnect_changes_nothing(ws):
    record_events([agent(ws, "connect", T1, CID)])
    assert record_events(
        [agent(ws, "disconnect", T2, CID, exit_code=0, reason="client disconnected")]
    ) == RecordResult(updated=1)
    assert record_events(
        [agent(ws, "disconnect", T3, CID, exit_code=1, reason="other")]
    ) == RecordResult(unchanged=1)
    row = ConnectionLog.objects.get()
    assert (row.disconnect_time.minute, row.code, row.disconnect_reason) == (
        5,
        0,
        "client disconnected",
    )


def test_second_disconnect_fills_a_reason_the_first_did_not_have(ws):
    record_events([agent(ws, "connect", T1, CID), agent(ws, "disconnect", T2, CID)])
    assert record_events([agent(ws, "disconnect", T3, CID, reason="timeout")]) == RecordResult(
        updated=1
    )
    row = ConnectionLog.objects.get()
    assert (row.disconnect_time.minute, row.disconnect_reason) == (5, "timeout")


def test_disconnect_first_makes_a_closed_row_and_a_late_connect_changes_nothing(ws):
    assert record_events([agent(ws, "disconnect", T2, CID, exit_code=255)]) == RecordResult(
        created=1
    )
    row = ConnectionLog.objects.get()
    assert row.connect_time == row.disconnect_time and row.code == 255
    assert record_events([agent(ws, "connect", T1, CID)]) == RecordResult(unchanged=1)


def test_same_connection_id_on_another_agent_or_workspace_is_another_row(ws):
    other = WorkspaceFactory()
    record_events(
        [
            agent(ws, "connect", T1, CID),
            {**agent(ws, "connect", T1, CID), "agent_name": "second"},
            agent(other, "connect", T1, CID),
        ]
    )
    assert ConnectionLog.objects.count() == 3


def test_web_events_never_merge(ws):
    batch = [web(ws, T1, slug_or_port="code-server"), web(ws, T1, slug_or_port="code-server")]
    assert record_events(batch) == RecordResult(created=2)
    assert record_events(batch) == RecordResult(created=2)
    assert ConnectionLog.objects.count() == 4
    assert set(ConnectionLog.objects.values_list("code", flat=True)) == {200}


def test_same_agent_batch_twice_is_unchanged(ws):
    batch = [agent(ws, "connect", T1, CID), agent(ws, "disconnect", T2, CID, exit_code=0)]
    assert record_events(batch) == RecordResult(created=1, updated=1)
    assert record_events(batch) == RecordResult(unchanged=2)


def test_a_bad_event_writes_nothing_and_names_the_event_and_field(ws):
    batch = [
        agent(ws, "connect", T1, CID),
        {**web(ws, T1), "workspace_id": str(uuid.uuid4())},
        agent(ws, "connect", "yesterday", str(uuid.uuid4())),
    ]
    with pytest.raises(EventValidationError) as caught:
        record_events(batch)
    assert [v.field for v in caught.value.validations] == ["events[2].time"]
    batch[2]["time"] = T1
    with pytest.raises(EventValidationError) as caught:
        record_events(batch)
    assert [v.field for v in caught.value.validations] == ["events[1].workspace_id"]
    assert ConnectionLog.objects.count() == 0


def test_events_for_a_deleted_workspace_are_still_recorded(ws):
    record_events([agent(ws, "connect", T1, CID)])
    ws.soft_delete()
    assert record_events([agent(ws, "disconnect", T2, CID)]) == RecordResult(updated=1)
    assert Workspace.objects.get(pk=ws.pk).deleted


def test_workspace_name_is_a_snapshot(ws):
    record_events([agent(ws, "connect", T1, CID)])
    ws.name = "renamed"
    ws.save()
    record_events([agent(ws, "connect", T2, str(uuid.uuid4()))])
    assert sorted(ConnectionLog.objects.values_list("workspace_name", flat=True)) == [
        "dev",
        "renamed",
    ]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_one_connection_make_one_row():
    """Eight processes' worth of writers report the same connection at once."""
    ws = WorkspaceFactory()
    results, errors = [], []
    barrier = threading.Barrier(8)

    def report(i):
        try:
            barrier.wait()
            action = "connect" if i % 2 else "disconnect"
            results.append(
                record_events(
                    [
                        agent(
                            ws,
                            action,
                            T1 if i % 2 else T2,
                            CID,
                            **({} if i % 2 else {"exit_code": 0}),
                        )
                    ]
                )
            )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    for _ in range(5):
        ConnectionLog.objects.all().delete()
        results.clear()
        threads = [threading.Thread(target=report, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert ConnectionLog.objects.count() == 1
        assert sum(r.created for r in results) == 1
        row = ConnectionLog.objects.get()
        assert row.disconnect_time is not None and row.code == 0
    assert connection.vendor == "postgresql"


def test_a_batch_aborted_by_a_deadlock_is_retried_whole(ws, monkeypatch):
    """PostgreSQL aborts one of two deadlocked batches; the aborted one is applied again."""
    from django.db import OperationalError, transaction
    from psycopg.errors import DeadlockDetected

    from connlogs.ingest import merge as events_module

    real_apply, calls = events_module._apply, []

    def deadlock_once(*args):
        calls.append(1)
        if len(calls) == 1:
            with transaction.atomic():  # writes, then the transaction is aborted
                real_apply(*args)
                raise OperationalError("deadlock detected") from DeadlockDetected()
        return real_apply(*args)

    monkeypatch.setattr(events_module, "_apply", deadlock_once)
    batch = [agent(ws, "connect", T1, CID), web(ws, T1)]
    assert record_events(batch) == RecordResult(created=2)
    assert len(calls) == 2 and ConnectionLog.objects.count() == 2


def test_other_database_errors_are_not_retried(ws, monkeypatch):
    from django.db import OperationalError

    from connlogs.ingest import merge as events_module

    calls = []

    def broken(*args):
        calls.append(1)
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(events_module, "_apply", broken)
    with pytest.raises(OperationalError):
        record_events([agent(ws, "connect", T1, CID)])
    assert len(calls) == 1
