"""Real worker processes (``manage.py stream_worker``, the django-tasks database worker) and a
loopback HTTP receiver: a receiver outage and a worker killed mid-batch lose nothing.

PostgreSQL only: the worker process must share the test database, which on SQLite lives in
the test process's memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.utils import timezone

from connlogs.feed.models import FeedEntry
from connlogs.streams.models import Stream, WorkerHeartbeat
from tests.conftest import requires_postgres
from tests.factories import OrganizationFactory, UserFactory, WorkspaceFactory, member
from tests.feed.conftest import connect, disconnect, record
from tests.streams.receivers import HttpReceiver

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = "3"


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(worker_id: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "insecure-test-only-key",
        "CONNLOGS_STREAM_LEASE_SECONDS": LEASE_SECONDS,
        "CONNLOGS_WORKER_HEARTBEAT_SECONDS": "0.2",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    command = [sys.executable, "-m", "django", "stream_worker", "--interval", "0.1"]
    command += ["--worker-id", worker_id, "--no-startup-delay", "-v", "0"]
    return subprocess.Popen(command, env=env)


@pytest.fixture
def workers():
    started: list[subprocess.Popen] = []

    def start(worker_id: str) -> subprocess.Popen:
        started.append(start_worker(worker_id))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def org_world(db):
    acme = OrganizationFactory(name="acme")
    alice = member(acme, username="alice")
    return WorkspaceFactory(organization=acme, owner=alice, name="dev"), UserFactory(
        username="root", site_roles=["owner"]
    )


def ingest(ws, batches: int, size: int = 10) -> None:
    for _ in range(batches):
        events = [connect(ws) for _ in range(size)]
        record(*events)
        record(*[disconnect(ws, e["connection_id"]) for e in events[: size // 2]])


def wait_for(condition, timeout: float = 60.0, what: str = "") -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def all_seqs() -> set[int]:
    return set(FeedEntry.objects.values_list("seq", flat=True))


def received_seqs(receiver: HttpReceiver) -> list[int]:
    return [r["seq"] for r in receiver.records]


def test_a_receiver_outage_loses_nothing(org_world, workers):
    ws, owner = org_world
    receiver = HttpReceiver()
    try:
        ingest(ws, batches=10)
        stream = Stream.objects.create(
            name="siem", kind="http", url=receiver.url, created_by=owner, batch_size=20
        )
        workers("outage-worker")
        wait_for(lambda: len(receiver.records) >= 40, what="the first batches")
        receiver.stop()  # the receiver goes down mid-stream...
        ingest(ws, batches=10)  # ...while ingest goes on
        wait_for(lambda: Stream.objects.get(pk=stream.pk).failures >= 2, what="failed attempts")
        receiver.start()  # back on the same port
        wait_for(lambda: set(received_seqs(receiver)) == all_seqs(), what="every record")
    finally:
        receiver.stop()
    seqs = received_seqs(receiver)
    assert sorted(set(seqs)) == sorted(all_seqs())  # de-duplicated by seq: the set is exact
    stream.refresh_from_db()
    assert stream.cursor == max(all_seqs()) and stream.last_error.startswith("ConnectionError")
    # In feed order: every batch's seqs ascend, and batches follow the cursor.
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == sorted(first_seen)


def test_a_worker_killed_mid_batch_is_taken_over_by_another(org_world, workers):
    ws, owner = org_world
    receiver = HttpReceiver()
    receiver.delay = 0.3  # each batch takes a while: the kill lands mid-batch
    try:
        ingest(ws, batches=10)
        Stream.objects.create(
            name="siem", kind="http", url=receiver.url, created_by=owner, batch_size=10
        )
        first = workers("first-worker")
        wait_for(lambda: len(receiver.records) >= 30, what="the first batches")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = timezone.now()
        workers("second-worker")
        wait_for(lambda: set(received_seqs(receiver)) == all_seqs(), what="every record")
    finally:
        receiver.stop()
    seqs = received_seqs(receiver)
    assert sorted(set(seqs)) == sorted(all_seqs())
    assert len(seqs) - len(set(seqs)) <= 10  # at most the batch that was in flight
    second = WorkerHeartbeat.objects.get(worker_id="second-worker")
    assert second.last_seen > killed_at


def drop_other_connections() -> int:
    """What a database restart does to the workers: every other session of the test
    database is cut."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_the_worker_survives_lost_database_connections_mid_delivery(org_world, workers):
    ws, owner = org_world
    receiver = HttpReceiver()
    receiver.delay = 0.2
    try:
        ingest(ws, batches=10)
        Stream.objects.create(
            name="siem", kind="http", url=receiver.url, created_by=owner, batch_size=10
        )
        worker = workers("steady-worker")
        wait_for(lambda: len(receiver.records) >= 20, what="the first batches")
        for _ in range(3):
            assert drop_other_connections() >= 1
            time.sleep(0.5)
        wait_for(lambda: set(received_seqs(receiver)) == all_seqs(), what="every record")
    finally:
        receiver.stop()
    assert worker.poll() is None  # the same process went on
    assert sorted(set(received_seqs(receiver))) == sorted(all_seqs())
