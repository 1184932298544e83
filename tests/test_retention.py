"""Retention: CONNLOGS_RETENTION, `manage.py purge_connection_logs` and the footer summary."""

import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs import retention
from connlogs.models import ConnectionLog
from tests.factories import ConnectionLogFactory, MembershipFactory, OrganizationFactory


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
