"""Retention: CONNLOGS_RETENTION, `manage.py purge_connection_logs` and the footer summary."""

import datetime as dt
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs import retention, transient
from connlogs.models import ConnectionLog
from connlogs.values import format_time
from tests.conftest import as_user, requires_postgres
from tests.factories import (
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90d", dt.timedelta(days=90)),
        ("12h", dt.timedelta(hours=12)),
        ("2w", dt.timedelta(weeks=2)),
        ("30m", dt.timedelta(minutes=30)),
        (" 7D ", dt.timedelta(days=7)),
        ("", None),
        ("forever", None),
        (None, None),
    ],
)
def test_parse_retention(text, expected):
    assert retention.parse_retention(text) == expected


@pytest.mark.parametrize("text", ["90", "d", "1.5d", "-1d", "0d", "3 months", "90x"])
def test_bad_retention_values_are_refused(text):
    with pytest.raises(ValueError):
        retention.parse_retention(text)


def test_describe_in_words():
    assert retention.describe("90d") == "90 days"
    assert retention.describe("1w") == "1 week"
    assert retention.describe("") == "forever"


def test_a_bad_setting_is_a_configuration_error_naming_it(settings):
    settings.CONNLOGS_RETENTION = "ninety days"
    with pytest.raises(ImproperlyConfigured, match="CONNLOGS_RETENTION"):
        retention.retention_period()


def rows_aged(*days_ago: float) -> list[ConnectionLog]:
    now = timezone.now()
    return [ConnectionLogFactory(connect_time=now - dt.timedelta(days=d)) for d in days_ago]


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_connection_logs", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_purge_deletes_only_rows_older_than_the_retention(settings):
    settings.CONNLOGS_RETENTION = "30d"
    kept = rows_aged(1, 29)
    rows_aged(31, 40, 400)
    output = purge()
    assert "Deleted 3 connection logs older than 30 days" in output
    assert set(ConnectionLog.objects.values_list("id", flat=True)) == {r.id for r in kept}


@pytest.mark.django_db
def test_purge_works_in_batches_each_a_short_delete(settings):
    settings.CONNLOGS_RETENTION = "10d"
    rows_aged(20, 21, 22, 23, 24)
    with CaptureQueriesContext(connection) as ctx:
        output = purge("--batch-size", "2")
    deletes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1 rows
    assert "in 3 batches" in output
    assert not ConnectionLog.objects.exists()


@pytest.mark.django_db
def test_dry_run_reports_and_deletes_nothing(settings):
    settings.CONNLOGS_RETENTION = "30d"
    rows_aged(1, 31, 45)
    output = purge("--dry-run")
    assert "would delete 2 connection logs older than 30 days" in output
    assert ConnectionLog.objects.count() == 3


@pytest.mark.django_db
def test_without_retention_nothing_is_deleted(settings):
    settings.CONNLOGS_RETENTION = ""
    rows_aged(1000)
    assert "kept forever" in purge()
    assert ConnectionLog.objects.count() == 1


@pytest.mark.django_db
def test_older_than_overrides_the_setting_for_one_run(settings):
    settings.CONNLOGS_RETENTION = ""
    rows_aged(1, 5)
    assert "Deleted 1 connection logs older than 2 days" in purge("--older-than", "2d")
    assert ConnectionLog.objects.count() == 1


@pytest.mark.django_db
def test_bad_values_are_command_errors_not_tracebacks(settings):
    settings.CONNLOGS_RETENTION = "soon"
    with pytest.raises(CommandError, match="CONNLOGS_RETENTION"):
        purge()
    with pytest.raises(CommandError, match="batch-size"):
        purge("--older-than", "1d", "--batch-size", "0")


@pytest.mark.django_db
def test_summary_gives_the_retention_in_words_and_the_oldest_kept_row(settings):
    settings.CONNLOGS_RETENTION = "90d"
    oldest, _ = rows_aged(80, 2)
    found = retention.summary()
    assert str(found) == "Connection logs are kept for 90 days."
    assert found.oldest == oldest.connect_time
    assert found.cutoff < timezone.now() - dt.timedelta(days=89)


@pytest.mark.django_db
def test_summary_of_the_rows_a_viewer_may_see(settings):
    settings.CONNLOGS_RETENTION = ""
    mine, theirs = OrganizationFactory(), OrganizationFactory()
    auditor = MembershipFactory(organization=mine, roles=["organization-auditor"]).user
    now = timezone.now()
    ConnectionLogFactory(connect_time=now - dt.timedelta(days=50), workspace__organization=theirs)
    visible = ConnectionLogFactory(
        connect_time=now - dt.timedelta(days=5), workspace__organization=mine
    )
    found = retention.summary(ConnectionLog.objects.visible_to(auditor))
    assert str(found) == "Connection logs are kept forever."
    assert found.oldest == visible.connect_time and found.cutoff is None


@pytest.mark.django_db
def test_summary_without_rows_has_no_oldest_time():
    assert retention.summary().oldest is None


def _aborted(error_class):
    from django.db import OperationalError

    try:
        raise error_class()
    except error_class as cause:
        error = OperationalError(str(cause) or error_class.__name__)
        error.__cause__ = cause
        return error


@pytest.mark.django_db
@pytest.mark.parametrize("error_class", ["DeadlockDetected", "SerializationFailure"])
def test_a_purge_batch_aborted_by_postgresql_is_run_again(settings, monkeypatch, error_class):
    from psycopg import errors

    settings.CONNLOGS_RETENTION = "10d"
    rows_aged(20, 21, 22)
    real, calls = retention._delete_batch, []

    def aborted_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise _aborted(getattr(errors, error_class))
        return real(*args)

    monkeypatch.setattr(retention, "_delete_batch", aborted_once)
    assert "Deleted 3 connection logs" in purge("--batch-size", "2")
    assert len(calls) == 3 and not ConnectionLog.objects.exists()  # 1 aborted + 2 batches


@pytest.mark.django_db
def test_a_purge_batch_aborted_every_time_fails_and_other_errors_are_not_retried(
    settings, monkeypatch
):
    from django.db import OperationalError
    from psycopg.errors import DeadlockDetected

    settings.CONNLOGS_RETENTION = "10d"
    rows_aged(20)
    calls = []

    def always(error):
        def delete_batch(*args):
            calls.append(1)
            raise error

        return delete_batch

    monkeypatch.setattr(retention, "_delete_batch", always(_aborted(DeadlockDetected)))
    with pytest.raises(OperationalError):
        purge()
    assert len(calls) == transient.ATTEMPTS
    calls.clear()
    monkeypatch.setattr(retention, "_delete_batch", always(OperationalError("disk full")))
    with pytest.raises(OperationalError):
        purge()
    assert len(calls) == 1
    assert ConnectionLog.objects.count() == 1


# --- purging while agents report disconnects ------------------------------------------------


def _expired_sessions(workspace, count: int, now: dt.datetime) -> list[ConnectionLog]:
    """``count`` ongoing sessions that connected 40 to 50 days ago, connection ids random
    (so the purge's order, by connect time, is not ingest's, by connection id)."""
    rows = [
        ConnectionLog(
            connect_time=now - dt.timedelta(days=40, seconds=index * 60),
            organization_id=workspace.organization_id,
            workspace_owner_id=workspace.owner_id,
            workspace_id=workspace.id,
            workspace_name=workspace.name,
            agent_name="main",
            type="ssh",
            connection_id=uuid.uuid4(),
            ip="10.0.0.1",
        )
        for index in range(count)
    ]
    return ConnectionLog.objects.bulk_create(rows, batch_size=2000)


def _postgres_url() -> str:
    """The test database (its ``test_`` name), for a ``manage.py`` in another process."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_purge_finishes_while_clients_post_disconnects_for_the_rows_it_deletes():
    """8 reporters send 500-disconnect batches for the very sessions being purged; a purge
    batch that PostgreSQL aborts for a deadlock is run again, and the command exits 0."""
    now = timezone.now()
    workspace = WorkspaceFactory(name="busy")
    expired = _expired_sessions(workspace, 8000, now)
    kept = [
        ConnectionLogFactory(workspace=workspace, connect_time=now - dt.timedelta(days=d))
        for d in (1, 5, 29)
    ]
    reporter = UserFactory(site_roles=["connection-reporter"])
    connection_ids = [str(row.connection_id) for row in expired]
    disconnect_time = format_time(now)
    stop, failures, statuses = threading.Event(), [], []

    def report(index: int) -> None:
        client = as_user(reporter)
        rng = random.Random(index)
        # Each reporter its own agents' sessions: the races are with the purge, not between
        # reporters (two batches creating the same purged session race on their own).
        mine = connection_ids[index::8]
        try:
            while not stop.is_set():
                batch = [
                    {
                        "action": "disconnect",
                        "time": disconnect_time,
                        "type": "ssh",
                        "workspace_id": str(workspace.id),
                        "agent_name": "main",
                        "connection_id": cid,
                        "exit_code": 0,
                    }
                    for cid in rng.sample(mine, 500)
                ]
                response = client.post(
                    "/api/v2/connectionlog/events", {"events": batch}, format="json"
                )
                statuses.append(response.status_code)
        except Exception as error:  # noqa: BLE001 - shown by the assertion below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    try:
        while len(statuses) < 8:  # every reporter is under way
            time.sleep(0.05)
        purge = subprocess.run(
            [sys.executable, "manage.py", "purge_connection_logs", "--older-than", "30d"],
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "DATABASE_URL": _postgres_url()},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert purge.returncode == 0, purge.stderr[-2000:]
    assert f"Deleted {len(expired)} connection logs older than 30 days" in purge.stdout
    assert failures == [] and set(statuses) == {200}
    cutoff = now - dt.timedelta(days=30)
    assert not ConnectionLog.objects.filter(connect_time__lt=cutoff).exists()
    # The rows that were not expired are all there; what else is there was written by
    # disconnects that arrived after their session was purged (connected "now").
    kept_ids = {row.id for row in kept}
    assert set(ConnectionLog.objects.filter(id__in=kept_ids).values_list("id", flat=True)) == (
        kept_ids
    )
    others = ConnectionLog.objects.exclude(id__in=kept_ids).values_list("connect_time", flat=True)
    assert set(others) <= {now}


@pytest.mark.django_db
@pytest.mark.parametrize("pause", ["-1", "nan", "inf"])
def test_a_bad_pause_is_refused_before_any_row_goes(settings, pause):
    settings.CONNLOGS_RETENTION = "30d"
    rows_aged(31, 40)
    with pytest.raises(CommandError, match="--pause"):
        purge("--pause", pause, "--batch-size", "1")
    assert ConnectionLog.objects.count() == 2
