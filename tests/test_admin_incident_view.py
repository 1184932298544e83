"""The admin's connection-log list as an incident view: times, search by IP, indexed sorting."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from connlogs.web.views.base import TIMEZONE_COOKIE
from tests.factories import ConnectionLogFactory, WorkspaceFactory, member

pytestmark = pytest.mark.django_db

LOG_LIST = "admin:connlogs_connectionlog_changelist"
UTC = dt.UTC


@pytest.fixture
def rows(org, client, owner):
    client.force_login(owner)
    workspace = WorkspaceFactory(organization=org, owner=member(org, username="wsowner"))
    base = dt.datetime(2025, 1, 15, 12, 0, 5, tzinfo=UTC)
    return [
        ConnectionLogFactory(
            workspace=workspace,
            connect_time=base,
            disconnect_time=base + dt.timedelta(minutes=3, seconds=7),
            ip="10.0.0.7",
            code=0,
        ),
        ConnectionLogFactory(
            workspace=workspace, connect_time=base + dt.timedelta(hours=1), ip="10.0.0.70"
        ),
        ConnectionLogFactory(
            workspace=workspace,
            connect_time=base + dt.timedelta(hours=2),
            ip="2001:db8::7",
            type="workspace_app",
            code=200,
        ),
    ]


def shown_ids(response) -> list:
    return [row.id for row in response.context["cl"].result_list]


def test_times_have_seconds_and_zone(client, rows):
    html = client.get(reverse(LOG_LIST)).content.decode()
    assert '2025-01-15</span> <span class="nowrap">12:00:05 UTC' in html
    assert "12:03:12 UTC" in html  # the disconnect time
    client.cookies[TIMEZONE_COOKIE] = "America/New_York"
    html = client.get(reverse(LOG_LIST)).content.decode()
    assert "07:00:05 EST" in html
    page = client.get(reverse("admin:connlogs_connectionlog_change", args=[rows[0].id]))
    assert '2025-01-15</span> <span class="nowrap">07:00:05 EST' in page.content.decode()


def test_every_incident_column_is_listed(client, rows):
    html = client.get(reverse(LOG_LIST)).content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert {"connected", "ip", "code", "status", "disconnected"} <= set(headers)


@pytest.mark.parametrize(
    "term, expected",
    [("10.0.0.7", [0]), ("  10.0.0.70 ", [1]), ("2001:db8::7", [2]), ("2001:DB8:0::7", [2])],
)
def test_search_by_ip_address_is_an_exact_match(client, rows, term, expected):
    response = client.get(reverse(LOG_LIST), {"q": term})
    assert response.status_code == 200
    assert shown_ids(response) == [rows[index].id for index in expected]
    assert not [str(m) for m in response.context["messages"]]


def test_search_still_takes_a_uuid_and_the_search_language(client, rows):
    response = client.get(reverse(LOG_LIST), {"q": str(rows[1].id)})
    assert shown_ids(response) == [rows[1].id]
    response = client.get(reverse(LOG_LIST), {"q": "type:workspace_app"})
    assert shown_ids(response) == [rows[2].id]


def test_only_the_connection_time_is_sortable(client, rows):
    newest_first = [row.id for row in reversed(rows)]
    html = client.get(reverse(LOG_LIST)).content.decode()
    assert html.count('class="sortable') == 1
    # Oldest first (?o=0 toggles the time column): an index serves it both ways.
    assert shown_ids(client.get(reverse(LOG_LIST), {"o": "0"})) == newest_first[::-1]
    assert shown_ids(client.get(reverse(LOG_LIST), {"o": "-0"})) == newest_first
    # Any other column, asked for by hand, is ignored: newest first, or the time's order.
    for column in range(1, 9):
        for order, expected in (
            (str(column), newest_first),
            (f"-{column}", newest_first),
            (f"{column}.0", newest_first[::-1]),
        ):
            response = client.get(reverse(LOG_LIST), {"o": order})
            assert response.status_code == 200
            assert shown_ids(response) == expected, order


def test_a_stale_session_does_not_read_as_ongoing(client, rows, settings):
    # rows[1] has been open since January 2025: far past CONNLOGS_STALE_AFTER.
    html = client.get(reverse(LOG_LIST)).content.decode()
    assert re.search(r"no disconnect received · \d+ d", html)
    settings.CONNLOGS_STALE_AFTER = dt.timedelta(days=365 * 100)
    html = client.get(reverse(LOG_LIST)).content.decode()
    assert "no disconnect received" not in html
    assert ">ongoing<" in html
