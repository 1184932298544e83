"""Retention by whole months (CONNLOGS_RETENTION_GRANULARITY=partition), on every database:
the rows of the month the cutoff falls in are kept, readable, until the whole month is past
the window; the dry run and the footer say so."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs import retention
from connlogs.models import ConnectionLog
from connlogs.storage import partitions
from connlogs.values import format_time
from tests.conftest import as_user
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory

PERIOD = dt.timedelta(days=100)


@pytest.fixture
def three_ages(db):
    """A row of the month before the cutoff's, one of the cutoff's month but older than
    the window, one inside the window; on PostgreSQL both old months have partitions."""
    now = timezone.now()
    window = now - PERIOD
    month = partitions.month_start(window)
    earlier = partitions.month_start(month - dt.timedelta(days=1))
    partitions.ensure(now, since=earlier, ahead=1)
    ws = WorkspaceFactory()
    return {
        "earlier": ConnectionLogFactory(workspace=ws, connect_time=earlier + dt.timedelta(hours=1)),
        "boundary": ConnectionLogFactory(workspace=ws, connect_time=month),
        "recent": ConnectionLogFactory(workspace=ws, connect_time=now - dt.timedelta(days=1)),
        "window": window,
        "month": month,
    }


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_connection_logs", "--older-than", "100d", *args, stdout=out)
    return out.getvalue()


def kept_ids() -> set:
    return set(ConnectionLog.objects.values_list("id", flat=True))


def test_the_cutoff_of_partition_granularity_is_its_months_first_instant():
    before = dt.datetime(2026, 3, 17, 8, 30, tzinfo=dt.UTC)
    assert retention.deletion_cutoff(before, "row") == before
    assert retention.deletion_cutoff(before, "partition") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert retention.kept_until(before, PERIOD) == dt.datetime(2026, 4, 1, tzinfo=dt.UTC) + PERIOD


@pytest.mark.django_db
def test_row_granularity_deletes_every_row_past_the_window(three_ages, settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "row"
    purge()
    assert kept_ids() == {three_ages["recent"].id}


@pytest.mark.django_db
def test_partition_granularity_keeps_the_cutoffs_month_whole(three_ages, settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "partition"
    with CaptureQueriesContext(connection) as captured:
        output = purge()
    assert kept_ids() == {three_ages["boundary"].id, three_ages["recent"].id}
    assert f"Kept the rows from {format_time(three_ages['month'])}" in output
    if connection.vendor == "postgresql":
        # Only a whole month went: not one row was deleted by a DELETE of the log.
        deletes = [
            q["sql"]
            for q in captured.captured_queries
            if q["sql"].startswith('DELETE FROM "connlogs_connectionlog"')
        ]
        assert deletes == []
        assert "Dropped partition" in output


@pytest.mark.django_db
def test_the_kept_rows_stay_readable_until_their_month_goes(three_ages, settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "partition"
    purge()
    client = as_user(UserFactory(site_roles=["owner"]))
    listed = client.get("/api/v2/connectionlog", {"limit": 10}).json()["connection_logs"]
    assert {entry["id"] for entry in listed} == {
        str(three_ages["boundary"].id),
        str(three_ages["recent"].id),
    }


@pytest.mark.django_db
def test_the_dry_run_says_what_is_kept_past_the_window_and_until_when(three_ages, settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "partition"
    output = purge("--dry-run")
    until = retention.kept_until(three_ages["window"], PERIOD)
    assert "granularity partition: whole calendar months (UTC) are deleted" in output
    assert "1 connection logs connected from" in output
    assert "stay readable in the list, the API and exports" in output
    assert f"until their month goes at {format_time(until)}" in output
    assert len(kept_ids()) == 3


@pytest.mark.django_db
def test_the_command_line_overrides_the_setting_for_one_run(three_ages, settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "row"
    purge("--granularity", "partition")
    assert three_ages["boundary"].id in kept_ids()


@pytest.mark.django_db
def test_the_footer_says_rows_go_by_whole_months(settings):
    settings.CONNLOGS_RETENTION = "90d"
    settings.CONNLOGS_RETENTION_GRANULARITY = "partition"
    assert str(retention.summary()) == (
        "Connection logs are kept for 90 days, deleted by whole calendar months (UTC): a row "
        "is kept until its whole month is past that, at most a month longer."
    )


@pytest.mark.django_db
def test_a_bad_granularity_is_a_command_error(settings):
    settings.CONNLOGS_RETENTION_GRANULARITY = "weekly"
    with pytest.raises(CommandError, match="CONNLOGS_RETENTION_GRANULARITY"):
        purge()
