"""The workers' side: streams due are queued once, the django-tasks worker runs the round,
the heartbeat shows on /healthz."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from connlogs.streams import delivery, scheduling
from connlogs.streams.models import Stream, WorkerHeartbeat
from tests.feed.conftest import connect, record


# The worker closes connections between tasks, as it would in production: the test's data is
# committed rather than held in a transaction the worker would close.
@pytest.mark.django_db(transaction=True)
def test_a_due_stream_is_queued_once_and_the_worker_delivers_it(world, receiver, make_stream):
    record(connect(world.acme_ws), connect(world.acme_ws))
    stream = make_stream(url=receiver.url)
    paused = make_stream(url=receiver.url, paused=True)

    assert scheduling.dispatch_due() == 1
    assert scheduling.dispatch_due() == 0  # not due again until its round says so
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)

    assert len(receiver.records) == 2
    stream.refresh_from_db()
    assert stream.lease_owner == "" and stream.next_attempt_at is not None
    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL" and task.return_value["records"] == 2
    assert Stream.objects.get(pk=paused.pk).cursor == 0


@pytest.mark.django_db(transaction=True)
def test_a_round_that_runs_out_of_time_queues_the_next_at_once(
    world, receiver, make_stream, monkeypatch
):
    record(connect(world.acme_ws), connect(world.acme_ws), connect(world.acme_ws))
    make_stream(url=receiver.url, batch_size=1)
    monkeypatch.setattr(delivery, "ROUND_SECONDS", 0.000001)  # one batch a round

    scheduling.dispatch_due()
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)

    assert len(receiver.records) == 3
    assert DBTaskResult.objects.count() >= 3


def test_a_stream_whose_worker_died_is_due_again_when_its_lease_expires(world, make_stream):
    past = timezone.now() - dt.timedelta(seconds=1)
    make_stream(url="http://127.0.0.1:9/", lease_owner="dead", lease_expires_at=past)
    held = make_stream(
        url="http://127.0.0.1:9/",
        lease_owner="alive",
        lease_expires_at=timezone.now() + dt.timedelta(minutes=1),
    )

    due = list(scheduling.due_streams(timezone.now()))

    assert len(due) == 1 and due[0].pk != held.pk


def test_healthz_reports_the_workers_last_heartbeat(db):
    started = timezone.now()
    scheduling.beat("worker-a", started)

    workers = Client().get("/healthz").json()["workers"]

    seen = WorkerHeartbeat.objects.get().last_seen
    assert workers["alive"] == 1
    assert workers["last_heartbeat"] == seen.isoformat().replace("+00:00", "Z")


def test_prune_removes_old_finished_and_abandoned_results_and_keeps_queued_ones(world, make_stream):
    for _ in range(3):
        make_stream(url="http://127.0.0.1:9/")
    scheduling.dispatch_due()
    old, abandoned, queued = DBTaskResult.objects.all()
    long_ago = timezone.now() - dt.timedelta(hours=2)
    DBTaskResult.objects.filter(pk=old.pk).update(status="SUCCESSFUL", finished_at=long_ago)
    DBTaskResult.objects.filter(pk=abandoned.pk).update(status="RUNNING", started_at=long_ago)

    scheduling.prune()

    assert list(DBTaskResult.objects.values_list("pk", flat=True)) == [queued.pk]
