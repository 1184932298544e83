"""Local times always say which zone they are in, also in the repeated hour of a DST change."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from connlogs import roles
from connlogs.web.views.base import TIMEZONE_COOKIE
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory
from tests.web.conftest import signed_in

UTC = dt.UTC
TIME_CELL = re.compile(
    r'<time datetime="([^"]+)">([^<]+)</time></a> <span class="tz">([^<]*)</span>'
)

# The same wall-clock time twice, an hour apart: first in summer time, then in winter time.
REPEATED_HOURS = [
    ("America/New_York", dt.datetime(2024, 11, 3, 5, 42, tzinfo=UTC), "01:42:00", "EDT", "EST"),
    ("Europe/London", dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC), "01:30:00", "BST", "GMT"),
    ("Australia/Sydney", dt.datetime(2024, 4, 6, 15, 15, tzinfo=UTC), "02:15:00", "AEDT", "AEST"),
]


@pytest.fixture
def owner(db):
    return UserFactory(username="root", site_roles=[roles.OWNER])


def rows_at(*moments):
    workspace = WorkspaceFactory(organization=OrganizationFactory(name="acme"), name="dev")
    return [
        ConnectionLogFactory(workspace=workspace, connect_time=moment, disconnect_time=moment)
        for moment in moments
    ]


def in_zone(user, zone):
    client = signed_in(user)
    client.cookies[TIMEZONE_COOKIE] = zone
    return client


@pytest.mark.parametrize("zone, first, wall, summer, winter", REPEATED_HOURS)
def test_the_repeated_hour_is_labelled_on_the_list(owner, zone, first, wall, summer, winter):
    rows_at(first, first + dt.timedelta(hours=1))
    html = in_zone(owner, zone).get("/connectionlog").content.decode()
    cells = TIME_CELL.findall(html)
    # Newest first: the winter-time one, then the summer-time one, same wall clock.
    assert [(shown, label) for _, shown, label in cells] == [(wall, winter), (wall, summer)]


@pytest.mark.parametrize("zone, first, wall, summer, winter", REPEATED_HOURS)
def test_the_repeated_hour_is_labelled_on_the_detail_page(owner, zone, first, wall, summer, winter):
    early, late = rows_at(first, first + dt.timedelta(hours=1))
    client = in_zone(owner, zone)
    for row, label in ((early, summer), (late, winter)):
        html = client.get(reverse("connectionlog-detail", args=[row.id])).content.decode()
        assert f"{wall} {label}</time>" in html
        assert f".000000 {label}</time>" in html  # the "Connected" and "Disconnected" fields


def test_a_zone_without_abbreviations_shows_its_offset(owner):
    rows_at(dt.datetime(2025, 3, 1, 12, tzinfo=UTC))
    html = in_zone(owner, "America/Sao_Paulo").get("/connectionlog").content.decode()
    assert [label for _, _, label in TIME_CELL.findall(html)] == ["-03"]


def test_retention_footer_says_the_display_zone(owner):
    rows_at(dt.datetime(2025, 1, 15, 12, tzinfo=UTC))
    html = in_zone(owner, "America/New_York").get("/connectionlog").content.decode()
    footer = html.split('id="retention"', 1)[1]
    assert "15 Jan 2025, 07:00 EST</time>" in footer
    assert " UTC</time>" not in footer
    html = signed_in(owner).get("/connectionlog").content.decode()
    assert "15 Jan 2025, 12:00 UTC</time>" in html.split('id="retention"', 1)[1]


def test_chart_header_names_the_zone_of_its_window(owner):
    rows_at(dt.datetime(2025, 1, 15, 12, tzinfo=UTC))
    q = 'connected_after:"2025-01-15T00:00:00Z" connected_before:"2025-01-16T00:00:00Z"'
    response = in_zone(owner, "Asia/Kolkata").get("/connectionlog", {"q": q})
    assert response.context["chart"].range_text == "15 Jan 2025, 05:30 – 16 Jan 2025, 05:30 IST"


def test_chart_bar_tooltips_name_the_zone(owner):
    rows_at(dt.datetime(2025, 1, 15, 12, 10, tzinfo=UTC))
    q = 'connected_after:"2025-01-15T11:00:00Z" connected_before:"2025-01-15T13:00:00Z"'
    chart = in_zone(owner, "America/New_York").get("/connectionlog", {"q": q}).context["chart"]
    [bar] = [bar for bar in chart.bars if bar.total]
    assert bar.title.startswith("15 Jan 07:10–07:10 EST: 1 connection")
