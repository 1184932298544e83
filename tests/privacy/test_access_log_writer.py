"""A read's entry written beside its response (``connlogs.accesslog.writer``, PostgreSQL):
committed before the answer leaves, and a failed entry fails the read."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from django.db import connection
from django.test import Client

from connlogs.accesslog import chain, writer
from connlogs.models import AccessLogEntry
from tests.conftest import as_user, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

LIST = "/api/v2/connectionlog"
Door = AccessLogEntry.Door


@pytest.fixture
def paths(monkeypatch):
    """How each entry was written: ``"beside"`` (sent on the side connection, collected
    before the answer) or ``"now"`` (on the request's connection)."""
    seen: list[str] = []
    send, insert = writer._SideConnection.send, writer.insert

    def sent(self, entry):
        seen.append("beside")
        send(self, entry)

    def inserted(entry):
        seen.append("now")
        insert(entry)

    monkeypatch.setattr(writer._SideConnection, "send", sent)
    monkeypatch.setattr(writer, "insert", inserted)
    return seen


def test_the_entry_is_committed_beside_the_response_before_it_leaves(people, paths):
    response = as_user(people.auditor).get(LIST, {"q": "type:ssh"})
    assert response.status_code == 200 and response.json()["count"] == 1
    assert paths == ["beside"]
    # Read on the test's own connection: the side connection's INSERT was committed.
    entry = AccessLogEntry.objects.get()
    assert (entry.door, entry.q, entry.rows) == (Door.API, "type:ssh", 1)
    assert entry.username == "acme-auditor" and entry.organization_ids == [str(people.acme.id)]


def test_every_single_response_door_writes_beside_its_answer(people, paths):
    page = Client()
    page.force_login(people.owner)
    row = people.rows[0]
    page.get("/connectionlog", {"q": "type:ssh"})
    page.get(f"/connectionlog/{row.id}")
    page.get("/admin/connlogs/connectionlog/")
    as_user(people.owner).get(LIST)
    doors = list(AccessLogEntry.objects.order_by("id").values_list("door", flat=True))
    assert doors == [Door.PAGE, Door.DETAIL, Door.ADMIN, Door.API]
    assert paths == ["beside"] * 4


def _refused(response) -> bool:
    return (
        response.status_code == 503
        and int(response["Retry-After"]) > 0
        and b"alice-owner" not in response.content
        and b"connection_logs" not in response.content
    )


def test_a_database_that_refuses_the_side_connection_is_the_503_without_rows(people, monkeypatch):
    writer.close()
    unreachable = {"host": "127.0.0.1", "port": 1, "dbname": "x", "connect_timeout": 2}
    monkeypatch.setattr(writer.connection, "get_connection_params", lambda: unreachable)
    client = as_user(people.auditor)
    client.raise_request_exception = False
    assert _refused(client.get(LIST))
    assert not AccessLogEntry.objects.exists()


def _kill_side_connection() -> None:
    """The server ends the side connection, saying so (SQLSTATE 57P01)."""
    pid = writer._side().pgconn.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def _cut_side_connection() -> None:
    """The side connection is cut without a word from the server (a pooler restarting, a
    network cut): libpq reports it with no SQLSTATE."""
    side = socket.socket(fileno=os.dup(writer._side().pgconn.socket))
    side.shutdown(socket.SHUT_RDWR)
    side.close()


@pytest.mark.parametrize("door", [LIST, "/connectionlog"])
def test_a_side_connection_ended_between_reads_is_replaced_before_the_next(people, door):
    client = Client()
    client.force_login(people.owner)
    assert client.get(door).status_code == 200
    before = writer._side().pgconn.backend_pid
    _kill_side_connection()
    assert client.get(door).status_code == 200
    assert writer._side().pgconn.backend_pid != before
    assert AccessLogEntry.objects.count() == 2


@pytest.mark.parametrize("lose", [_kill_side_connection, _cut_side_connection])
def test_a_side_connection_lost_during_a_read_fails_that_read_only(people, monkeypatch, lose):
    client = as_user(people.owner)
    client.raise_request_exception = False
    assert client.get(LIST).status_code == 200
    monkeypatch.setattr(writer._SideConnection, "_broken", lambda self: False)
    lose()  # and it is not noticed before the INSERT is sent
    assert _refused(client.get(LIST))
    assert client.get(LIST).status_code == 200
    assert AccessLogEntry.objects.count() == 2  # the refused read wrote nothing


def test_concurrent_reads_each_write_their_entry_and_the_chain_holds(people):
    failures: list[int] = []

    def reads() -> None:
        try:
            client = as_user(people.auditor)
            for _ in range(5):
                status = client.get(LIST).status_code
                if status != 200:
                    failures.append(status)
        finally:
            writer.close()
            connection.close()

    threads = [threading.Thread(target=reads) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert AccessLogEntry.objects.count() == 30
    chain.seal_all()
    assert chain.verify().ok


def test_inside_a_transaction_the_entry_is_the_transactions(people, paths):
    from django.db import transaction

    with transaction.atomic():
        as_user(people.auditor).get(LIST)
        transaction.set_rollback(True)
    assert paths == ["now"]
    assert not AccessLogEntry.objects.exists()  # rolled back with the door's transaction
