"""Times at the ends of the range: every page, chart, export, admin view and the API answer.

Rows at Go's zero time (year 1) and at the last microsecond of year 9999 are stored as they
came; shown in any display zone (UTC, New York with its daylight saving, the +14 and -12
hour extremes), and with searches and windows that reach the ends, nothing answers 500 and
every time is written with a four-digit year.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from connlogs import roles
from connlogs.web.views.base import TIMEZONE_COOKIE
from tests.exports import ndjson_entries
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory
from tests.web.conftest import signed_in

UTC = dt.UTC
YEAR_ONE = dt.datetime(1, 1, 1, tzinfo=UTC)
YEAR_ONE_TEXT = "0001-01-01T00:00:00Z"
YEAR_9999 = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
YEAR_9999_TEXT = "9999-12-31T23:59:59.999999Z"
ZONES = ["UTC", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"]
# Searches whose bounds, windows and chart buckets reach the ends of the range.
EDGE_SEARCHES = [
    "",
    f'connected_after:"{YEAR_ONE_TEXT}"',
    'connected_before:"9999-12-31T23:59:59Z"',
    'connected_after:"0001-01-01T00:00:00Z" connected_before:"0001-01-01T00:30:00Z"',
    'connected_after:"0001-01-01T00:00:00Z" connected_before:"0001-01-09T00:00:00Z"',
    'connected_after:"9999-12-31T00:00:00Z"',
    'connected_after:"9999-12-31T23:00:00Z" connected_before:"9999-12-31T23:59:59Z"',
    'connected_after:"9999-10-01T00:00:00Z" connected_before:"9999-12-31T23:59:59Z"',
]


@pytest.fixture
def edges(db):
    organization = OrganizationFactory(name="acme")
    workspace = WorkspaceFactory(organization=organization, name="dev")
    first = ConnectionLogFactory(
        workspace=workspace,
        type="ssh",
        connect_time=YEAR_ONE,
        disconnect_time=YEAR_ONE + dt.timedelta(minutes=5),
        code=0,
    )
    ongoing = ConnectionLogFactory(workspace=workspace, type="ssh", connect_time=YEAR_ONE)
    last = ConnectionLogFactory(
        workspace=workspace,
        type="workspace_app",
        connect_time=YEAR_9999,
        code=200,
        user_agent="curl/8.0",
    )
    ending = ConnectionLogFactory(
        workspace=workspace,
        type="ssh",
        connect_time=YEAR_9999 - dt.timedelta(hours=1),
        disconnect_time=YEAR_9999,
    )
    owner = UserFactory(username="root", site_roles=[roles.OWNER])
    return owner, [first, ongoing, last, ending]


def in_zone(user, zone: str):
    client = signed_in(user)
    if zone != "UTC":
        client.cookies[TIMEZONE_COOKIE] = zone
    return client


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("q", EDGE_SEARCHES)
def test_list_page_and_chart_answer_in_every_zone(edges, zone, q):
    owner, _ = edges
    response = in_zone(owner, zone).get("/connectionlog", {"q": q})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'datetime="1-01' not in html


@pytest.mark.parametrize("zone", ZONES)
def test_list_page_shows_year_one_with_four_digits(edges, zone):
    owner, _ = edges
    html = in_zone(owner, zone).get("/connectionlog").content.decode()
    assert f'<time datetime="{YEAR_ONE_TEXT}">' in html
    assert f'<time datetime="{YEAR_9999_TEXT}">' in html
    assert 'datetime="1-01-01' not in html


@pytest.mark.parametrize("zone", ZONES)
def test_detail_pages_answer_in_every_zone(edges, zone):
    owner, rows = edges
    client = in_zone(owner, zone)
    for row in rows:
        response = client.get(reverse("connectionlog-detail", args=[row.id]))
        assert response.status_code == 200, (zone, row.connect_time)
        html = response.content.decode()
        assert 'datetime="1-01' not in html
        # The "30 minutes either side" link stops at the ends of the range.
        assert response.context["only"]["around"]


def test_year_one_detail_page_says_when_in_utc_when_the_zone_cannot(edges):
    owner, rows = edges
    html = in_zone(owner, "America/New_York").get(f"/connectionlog/{rows[0].id}")
    text = html.content.decode()
    assert "1 Jan 0001, 00:00:00.000000 UTC" in text
    assert f"<code>{YEAR_ONE_TEXT}</code>" in text


def test_nearby_link_saturates_at_the_ends(edges):
    owner, rows = edges
    context = signed_in(owner).get(f"/connectionlog/{rows[0].id}").context
    assert "connected_after%3A%220001-01-01T00%3A00%3A00Z%22" in context["only"]["around"]
    context = signed_in(owner).get(f"/connectionlog/{rows[2].id}").context
    assert "9999-12-31T23%3A59%3A59.999999Z" in context["only"]["around"]


@pytest.mark.parametrize("zone", ZONES)
def test_custom_range_inputs_at_the_ends(edges, zone):
    owner, _ = edges
    client = in_zone(owner, zone)
    q = f'connected_after:"{YEAR_ONE_TEXT}" connected_before:"9999-12-31T23:59:59Z"'
    response = client.get("/connectionlog", {"q": q})
    assert response.status_code == 200
    shown = response.context["menus"].shown
    assert shown["from"].startswith("0001-") or shown["from"].startswith("0000") is False
    assert len(shown["from"].split("-")[0]) == 4 and len(shown["to"].split("-")[0]) == 4
    # Submitting the ends of a datetime-local input in this zone is a search, not a 500.
    response = client.get(
        "/connectionlog",
        {"q": "", "shown": "", "from": "0001-01-01T00:00", "to": "9999-12-31T23:59"},
    )
    assert response.status_code == 302
    assert client.get(response.url).status_code == 200


@pytest.mark.parametrize("zone", ZONES)
def test_admin_list_and_change_pages_answer_in_every_zone(edges, zone):
    owner, rows = edges
    client = in_zone(owner, zone)
    response = client.get(reverse("admin:connlogs_connectionlog_changelist"))
    assert response.status_code == 200
    for row in rows:
        page = client.get(reverse("admin:connlogs_connectionlog_change", args=[row.id]))
        assert page.status_code == 200


def _export(owner, fmt: str) -> str:
    client = signed_in(owner)
    response = client.get("/api/v2/connectionlog/export", {"format": fmt})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_csv_export_writes_four_digit_years(edges):
    owner, _ = edges
    rows = list(csv.DictReader(io.StringIO(_export(owner, "csv"))))
    times = {row["connect_time"] for row in rows} | {row["disconnect_time"] for row in rows}
    assert YEAR_ONE_TEXT in times and YEAR_9999_TEXT in times
    assert "0001-01-01T00:05:00Z" in times
    assert not any(value.startswith("1-") for value in times)


def test_ndjson_export_and_api_write_four_digit_years(edges):
    owner, _ = edges
    lines = ndjson_entries(_export(owner, "ndjson"))
    assert {entry["connect_time"] for entry in lines} >= {YEAR_ONE_TEXT, YEAR_9999_TEXT}
    response = signed_in(owner).get(
        "/api/v2/connectionlog", {"q": f'connected_before:"{YEAR_ONE_TEXT}"'}
    )
    assert response.status_code == 200
    entries = response.json()["connection_logs"]
    assert {entry["connect_time"] for entry in entries} == {YEAR_ONE_TEXT}
    assert "0001-01-01T00:05:00Z" in {entry["ssh_info"].get("disconnect_time") for entry in entries}


def test_purge_dry_run_writes_four_digit_years(edges, capsys):
    call_command("purge_connection_logs", "--dry-run", "--older-than", "1d")
    output = capsys.readouterr().out
    assert f"connected from {YEAR_ONE_TEXT} to" in output


def test_year_one_row_in_new_york_is_shown_in_utc_and_says_so(edges):
    owner, rows = edges
    response = in_zone(owner, "America/New_York").get("/connectionlog", {"q": "type:ssh"})
    html = response.content.decode()
    # The oldest rows cannot be shown on New York's calendar (it would be year 0): they are
    # shown in UTC, labelled UTC, under a UTC day header.
    assert "Monday, 1 January 0001" in html
    assert (
        f'<time datetime="{YEAR_ONE_TEXT}">00:00:00</time></a> <span class="tz">UTC</span>' in html
    )


@pytest.mark.parametrize(
    "zone, q, total",
    [
        (
            "America/New_York",
            'connected_after:"0001-01-01T00:00:00Z" connected_before:"0001-01-01T02:00:00Z"',
            2,
        ),
        (
            "Pacific/Kiritimati",
            'connected_after:"9999-12-30T00:00:00Z" connected_before:"9999-12-31T23:59:59.999999Z"',
            2,
        ),
        (
            "Etc/GMT+12",
            'connected_after:"9999-10-01T00:00:00Z" connected_before:"9999-12-31T23:59:59.999999Z"',
            2,
        ),
    ],
)
def test_chart_near_the_ends_counts_every_row_in_utc(edges, zone, q, total):
    owner, _ = edges
    chart = in_zone(owner, zone).get("/connectionlog", {"q": q}).context["chart"]
    assert chart is not None
    assert chart.total == total
    assert chart.range_text.endswith("UTC")
    assert all(bar.href for bar in chart.bars if bar.total)


@pytest.mark.parametrize("text", ["2999999d", "428571w", "3000000d"])
def test_a_retention_as_long_as_the_calendar_keeps_every_row(edges, capsys, text):
    # Longer than the time since year 1: nothing is old enough, and nothing overflows.
    call_command("purge_connection_logs", "--dry-run", "--older-than", text)
    assert "Dry run: no connection logs older than" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["3000001d", "99999999999999999999d", "999999999w"])
def test_a_retention_longer_than_the_calendar_is_refused(edges, text):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="longer than the calendar"):
        call_command("purge_connection_logs", "--dry-run", "--older-than", text)


@pytest.mark.parametrize("q", EDGE_SEARCHES)
def test_api_and_exports_answer_searches_reaching_the_ends(edges, q):
    owner, _ = edges
    client = signed_in(owner)
    response = client.get("/api/v2/connectionlog", {"q": q})
    assert response.status_code == 200
    listed = {entry["connect_time"] for entry in response.json()["connection_logs"]}
    assert all(len(text.split("-")[0]) == 4 for text in listed)
    for fmt in ("csv", "ndjson"):
        download = client.get("/api/v2/connectionlog/export", {"q": q, "format": fmt})
        assert download.status_code == 200
        text = b"".join(download.streaming_content).decode()
        assert '"1-01-01' not in text and ",1-01-01" not in text
