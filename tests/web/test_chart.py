"""The connections-over-time chart: buckets, stacking, window, links, one cheap query."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from connlogs.models import ConnectionLog
from connlogs.web import charts
from tests.factories import ConnectionLogFactory, WorkspaceFactory
from tests.web.conftest import row_ids, signed_in

NOW = dt.datetime(2025, 7, 10, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def hours(db):
    """Rows at known hours of 10 July 2025 (UTC)."""
    workspace = WorkspaceFactory()

    def at(hour, minute, kind):
        return ConnectionLogFactory(
            workspace=workspace,
            type=kind,
            connect_time=dt.datetime(2025, 7, 10, hour, minute, tzinfo=dt.UTC),
        )

    return [
        at(9, 5, "ssh"),
        at(9, 40, "ssh"),
        at(9, 59, "vscode"),
        at(10, 0, "workspace_app"),
        at(11, 15, "tunnel"),
    ]


def link(start, end):
    return f"{start.isoformat()}|{end.isoformat()}"


def chart_for(after, before, now=NOW):
    return charts.build_chart(
        ConnectionLog.objects.all(), after=after, before=before, link=link, now=now
    )


def test_hour_buckets_stacked_by_type(hours, django_assert_num_queries):
    with django_assert_num_queries(1):
        chart = chart_for(dt.datetime(2025, 7, 10, 8, tzinfo=dt.UTC), None)
    assert chart.unit is charts.HOUR  # 4.5 hours: per hour
    by_hour = {bar.start.hour: bar for bar in chart.bars}
    assert by_hour[9].total == 3
    assert [(s.type, s.count) for s in by_hour[9].segments] == [("ssh", 2), ("vscode", 1)]
    assert by_hour[10].total == 1 and by_hour[11].total == 1 and by_hour[8].total == 0
    assert chart.total == 5
    assert [(item.type, item.count) for item in chart.legend] == [
        ("ssh", 2),
        ("vscode", 1),
        ("workspace_app", 1),
        ("tunnel", 1),
    ]
    # Stacks sit on each other, tallest bar at the top of the axis.
    ssh, vscode = by_hour[9].segments
    assert vscode.y + vscode.height == pytest.approx(ssh.y)
    assert "3 connections (SSH 2, VS Code 1)" in by_hour[9].title


def test_a_bar_links_to_exactly_its_bucket(hours):
    chart = chart_for(dt.datetime(2025, 7, 10, 8, tzinfo=dt.UTC), None)
    bar = next(bar for bar in chart.bars if bar.start.hour == 9)
    start, end = bar.href.split("|")
    assert start == "2025-07-10T09:00:00+00:00"
    assert end == "2025-07-10T09:59:59.999999+00:00"
    empty = next(bar for bar in chart.bars if bar.start.hour == 8)
    assert empty.href == ""


def test_the_first_and_last_bars_link_only_to_the_window_they_count(hours):
    """A window that starts and ends inside an hour: the edge bars count only the window's
    part of their hour, and their links open only that part (so the list shows the bar's
    count, not the whole hour's)."""
    after = dt.datetime(2025, 7, 10, 9, 30, tzinfo=dt.UTC)
    before = dt.datetime(2025, 7, 10, 13, 30, tzinfo=dt.UTC)
    chart = chart_for(after, before)
    assert chart.unit is charts.HOUR
    first, last = chart.bars[0], chart.bars[-1]
    assert first.start.hour == 9 and first.total == 2  # 09:40 and 09:59, not 09:05
    assert first.href.split("|")[0] == after.isoformat()
    assert last.start.hour == 13
    for bar in chart.bars:
        if bar.href:
            start, end = (dt.datetime.fromisoformat(t) for t in bar.href.split("|"))
            assert after <= start <= end <= before
            inside = ConnectionLog.objects.filter(connect_time__range=(start, end))
            assert inside.count() == bar.total


def test_window_defaults_to_30_days_per_day_and_caps_at_90(hours):
    chart = chart_for(None, None)
    assert chart.unit is charts.DAY
    assert chart.end - chart.start == dt.timedelta(days=30)
    assert not chart.capped
    chart = chart_for(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None)
    assert chart.capped and chart.end - chart.start == dt.timedelta(days=90)
    assert len(chart.bars) <= 92


def test_short_ranges_are_per_minute(hours):
    chart = chart_for(
        dt.datetime(2025, 7, 10, 9, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 7, 10, 10, 0, tzinfo=dt.UTC),
    )
    assert chart.unit is charts.MINUTE
    assert chart.total == 4  # 09:05, 09:40, 09:59 and 10:00 (connected_before is inclusive)


def test_an_empty_or_inverted_window_draws_nothing(hours):
    assert chart_for(NOW, NOW - dt.timedelta(hours=1)) is None


def test_day_buckets_follow_the_display_zone(hours):
    from django.utils import timezone

    # 02:00 UTC on the 11th is 22:00 on the 10th in New York.
    ConnectionLogFactory(
        workspace=hours[0].workspace, connect_time=dt.datetime(2025, 7, 11, 2, tzinfo=dt.UTC)
    )
    window = (dt.datetime(2025, 7, 5, tzinfo=dt.UTC), dt.datetime(2025, 7, 12, tzinfo=dt.UTC))
    utc = [bar.total for bar in chart_for(*window).bars if bar.total]
    assert utc == [5, 1]
    with timezone.override("America/New_York"):
        chart = chart_for(*window)
        [day] = [bar for bar in chart.bars if bar.total]
        assert day.total == 6
        assert day.start.utcoffset() == dt.timedelta(hours=-4)
        assert (day.start.day, day.start.hour) == (10, 0)


def test_page_chart_follows_the_search_and_its_bars_narrow_the_list(world):
    client = signed_in(world.people["owner"])
    response = client.get("/connectionlog", {"q": "type:ssh"})
    chart = response.context["chart"]
    assert chart.total == 1
    html = response.content.decode()
    hrefs = re.findall(r'<a class="bar" href="([^"]+)">', html)
    assert len(hrefs) == 1
    q = parse_qs(urlsplit(html_lib.unescape(hrefs[0])).query)["q"][0]
    assert q.startswith('type:ssh connected_after:"') and 'connected_before:"' in q
    narrowed = client.get(html_lib.unescape(hrefs[0]))
    assert row_ids(narrowed) == [str(world.acme_rows[0].id)]
    # A day bar opens that day, drawn per hour.
    assert narrowed.context["chart"].unit is charts.HOUR


def test_legend_links_filter_by_type(world):
    client = signed_in(world.people["owner"])
    response = client.get("/connectionlog")
    urls = dict((item.type, url) for item, url in response.context["chart_legend"])
    assert urls["tunnel"] == "/connectionlog?q=type%3Atunnel"


def test_nice_axis_tops():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 99, 101, 2400)] == [
        1,
        1,
        5,
        10,
        20,
        100,
        200,
        5000,
    ]


def test_counts_are_cached_briefly_per_exact_query(hours, django_assert_num_queries):
    after = dt.datetime(2025, 7, 10, 8, tzinfo=dt.UTC)
    first = chart_for(after, None)
    with django_assert_num_queries(0):
        again = chart_for(after, None)
    assert [bar.total for bar in again.bars] == [bar.total for bar in first.bars]
    # Another scope or search is another query, never a cached answer of someone else's.
    with django_assert_num_queries(1):
        charts.build_chart(
            ConnectionLog.objects.filter(type="ssh"), after=after, before=None, link=link, now=NOW
        )


def test_an_open_window_ends_on_the_next_whole_minute():
    start, end, capped = charts.chart_window(None, None, NOW.replace(second=42, microsecond=7))
    assert end == NOW.replace(minute=31, second=0, microsecond=0)
    assert end - start == charts.DEFAULT_WINDOW and not capped


def test_an_active_during_chart_says_what_it_counts(db, settings):
    """``active_after:``/``active_before:`` find sessions that were active in the range, the
    ones that connected before it too; the chart counts connect times in the range, so its
    header says so and how many more the list holds."""
    from tests.factories import UserFactory

    owner = UserFactory(username="root", site_roles=["owner"])
    workspace = WorkspaceFactory()
    start = dt.datetime(2025, 7, 10, 2, tzinfo=dt.UTC)
    for connected, ended in ((-90, 30), (-10, None), (15, 20)):  # minutes from 02:00
        ConnectionLogFactory(
            workspace=workspace,
            type="ssh",
            connect_time=start + dt.timedelta(minutes=connected),
            disconnect_time=start + dt.timedelta(minutes=ended) if ended is not None else None,
        )
    client = signed_in(owner)
    q = 'active_after:"2025-07-10T02:00:00Z" active_before:"2025-07-10T03:00:00Z"'
    page = client.get("/connectionlog", {"q": q})
    assert page.context["page"].count == 3 and page.context["chart"].total == 1
    text = " ".join(re.sub(r"<[^>]+>", "", html_lib.unescape(page.content.decode())).split())
    assert "1 connection started in this range · 2 more in the list started before it" in text
    plain = client.get("/connectionlog", {"q": q.replace("active", "connected")})
    assert "started in this range" not in plain.content.decode()
