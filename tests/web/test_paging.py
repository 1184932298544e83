"""Paging: cursors for next/previous, numbered pages, sizes, the capped count, deep pages."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connlogs import roles
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
)
from tests.web.conftest import row_ids, signed_in

ROWS = 60


@pytest.fixture
def many(db):
    organization = OrganizationFactory(name="acme")
    workspace = WorkspaceFactory(organization=organization, name="dev")
    base = timezone.now() - dt.timedelta(days=1)
    rows = [
        ConnectionLogFactory(workspace=workspace, connect_time=base + dt.timedelta(minutes=i))
        for i in range(ROWS)
    ]
    # Two rows at the same instant: the id breaks the tie, and paging must not lose one.
    ConnectionLogFactory(workspace=workspace, connect_time=rows[30].connect_time)
    owner = UserFactory(username="root", site_roles=[roles.OWNER])
    return owner


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return html_lib.unescape(found.group(1)) if found else None


def api_ids(owner, **params) -> list[str]:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(**auth_header(owner))
    response = client.get("/api/v2/connectionlog", {"limit": 1000, **params})
    return [entry["id"] for entry in response.json()["connection_logs"]]


def test_next_and_previous_walk_the_same_order_as_the_api(many):
    client = signed_in(many)
    everything = api_ids(many)
    assert len(everything) == ROWS + 1
    seen = []
    page = client.get("/connectionlog")
    pages = [page]
    while True:
        seen += row_ids(page)
        following = link(page.content.decode(), "next")
        if not following:
            break
        assert "after=" in following
        page = client.get(following)
        pages.append(page)
    assert seen == everything
    assert [p.context["page"].number for p in pages] == [1, 2, 3]
    # And back again, page by page, to the same pages.
    for earlier, current in zip(reversed(pages[:-1]), reversed(pages[1:]), strict=True):
        previous = link(current.content.decode(), "prev")
        assert "before=" in previous
        back = client.get(previous)
        assert row_ids(back) == row_ids(earlier)
        assert back.context["page"].number == earlier.context["page"].number


def test_next_page_is_stable_when_new_rows_arrive(many):
    client = signed_in(many)
    first = client.get("/connectionlog")
    second_url = link(first.content.decode(), "next")
    before = row_ids(client.get(second_url))
    workspace = WorkspaceFactory()
    for _ in range(5):
        ConnectionLogFactory(
            workspace=workspace, connect_time=timezone.now() - dt.timedelta(seconds=1)
        )
    assert row_ids(client.get(second_url)) == before


def test_numbered_pages_and_summary(many):
    client = signed_in(many)
    response = client.get("/connectionlog", {"page": 3})
    html = response.content.decode()
    assert row_ids(response) == api_ids(many, offset=50, limit=25)
    assert "Showing <strong>51–61</strong> of <strong>61</strong>" in html
    assert 'aria-current="page">3<' in html
    assert 'href="/connectionlog?page=1"' in html
    assert 'href="/connectionlog?page=2"' in html


def test_page_sizes(many):
    client = signed_in(many)
    assert len(row_ids(client.get("/connectionlog", {"per_page": 50}))) == 50
    assert len(row_ids(client.get("/connectionlog", {"per_page": 100}))) == ROWS + 1
    assert client.get("/connectionlog", {"per_page": 7}).status_code == 400  # not a size offered
    html = client.get("/connectionlog").content.decode()
    assert 'href="/connectionlog?per_page=50"' in html


def test_count_stops_at_the_cap(many, settings):
    settings.CONNLOGS_COUNT_CAP = 40
    response = signed_in(many).get("/connectionlog")
    html = response.content.decode()
    assert "of <strong>40+</strong>" in html
    page = response.context["page"]
    assert page.count_is_capped and page.last_page is None


def test_a_garbage_page_is_named_and_a_stale_cursor_is_explained(many):
    client = signed_in(many)
    assert client.get("/connectionlog", {"page": "abc"}).status_code == 400
    response = client.get(
        "/connectionlog", {"after": "00000000-0000-0000-0000-000000000000", "page": 2}
    )
    assert response.context["page"].stale_cursor
    assert row_ids(response) == api_ids(many, offset=25, limit=25)


def test_cursor_of_a_row_the_user_may_not_read_is_ignored(many):
    hidden_org = OrganizationFactory(name="hidden")
    hidden = ConnectionLogFactory(workspace=WorkspaceFactory(organization=hidden_org))
    reader = UserFactory()
    from connlogs.models import Membership, Organization

    Membership.objects.create(
        user=reader,
        organization=Organization.objects.get(name="acme"),
        roles=[roles.ORGANIZATION_AUDITOR],
    )
    response = signed_in(reader).get("/connectionlog", {"after": str(hidden.id)})
    assert response.context["page"].stale_cursor


def _row_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "connlogs_connectionlog" in q["sql"]]


def test_numbered_page_skips_with_an_id_only_subquery(many):
    client = signed_in(many)
    with CaptureQueriesContext(connection) as captured:
        client.get("/connectionlog", {"page": 2})
    [rows_sql] = [
        sql
        for sql in _row_queries(captured.captured_queries)
        if "OFFSET" in sql.upper() and "IN (SELECT" in sql.upper()
    ]
    inner = rows_sql.upper().split("IN (SELECT", 1)[1]
    assert inner.lstrip().startswith('U0."ID"') or inner.lstrip().startswith("U0.ID")


def test_next_page_query_is_a_keyset_walk_without_offset(many):
    client = signed_in(many)
    following = link(client.get("/connectionlog").content.decode(), "next")
    with CaptureQueriesContext(connection) as captured:
        client.get(following)
    selects = [
        sql
        for sql in _row_queries(captured.captured_queries)
        if "ORDER BY" in sql.upper() and "COUNT(" not in sql.upper() and "LIMIT" in sql.upper()
    ]
    assert selects and not any("OFFSET" in sql.upper() for sql in selects)


def test_numbered_pages_stop_at_the_offset_limit(many, monkeypatch):
    from connlogs.web.views import paging

    monkeypatch.setattr(paging, "MAX_OFFSET", 25)
    client = signed_in(many)
    assert len(row_ids(client.get("/connectionlog", {"page": 2}))) == 25  # offset 25: allowed
    response = client.get("/connectionlog", {"page": 3})  # offset 50: refused, not scanned
    assert 'data-empty="page"' in response.content.decode()
    assert "Numbered pages reach the first 25 connections" in response.content.decode()
    assert 'href="/connectionlog?page=3"' not in client.get("/connectionlog").content.decode()
    # The cursor still walks there.
    second = client.get("/connectionlog", {"page": 2})
    third = client.get(link(second.content.decode(), "next"))
    assert row_ids(third) == api_ids(many, offset=50, limit=25)


def test_a_page_past_the_end_of_a_short_search_says_so_however_deep(many, monkeypatch):
    """Past the numbered pages' reach, a search whose exact count ends before the page is
    "past the last one" (with a link back to its last page), not "further back"."""
    from connlogs.web.views import paging

    monkeypatch.setattr(paging, "MAX_OFFSET", 25)
    client = signed_in(many)
    total = len(api_ids(many, limit=1000))
    response = client.get("/connectionlog", {"page": 99999999})
    text = response.content.decode()
    assert f"This search has {total} connections; this page is past the last one." in text
    assert "Numbered pages reach" not in text


def _every_way_through(owner, q: str) -> dict[str, list]:
    """The rows of every kind of page of ``q``, by the page (HTML) and by the API: numbered,
    offset, and both cursors, forward to the end and back again."""
    client = signed_in(owner)
    seen: dict[str, list] = {"numbered": row_ids(client.get("/connectionlog", {"q": q, "page": 3}))}
    pages = [client.get("/connectionlog", {"q": q})]
    while following := link(pages[-1].content.decode(), "next"):
        pages.append(client.get(following))
    seen["next"] = [row_ids(page) for page in pages]
    seen["previous"] = [
        row_ids(client.get(link(page.content.decode(), "prev"))) for page in pages[1:]
    ]
    seen["offset"] = [api_ids(owner, q=q, offset=offset, limit=7) for offset in (0, 7, 28, 56)]
    after, chain = None, []
    while batch := api_ids(owner, q=q, limit=9, **({"after_id": after} if after else {})):
        chain.append(batch)
        after = batch[-1]
    seen["after_id"] = chain
    return seen


def _sorted_in_sql(owner, q: str) -> bool:
    """Whether the API's page query for ``q`` sorts the matches (``newest_first(sort=True)``)."""
    with CaptureQueriesContext(connection) as captured:
        api_ids(owner, q=q)
    pages = [sql for sql in _row_queries(captured.captured_queries) if "LIMIT 1000" in sql]
    return "ORDER BY COALESCE(" in pages[0].upper()


@pytest.mark.parametrize("q", ["dev", "dev type:ssh,vscode,jetbrains,reconnecting_pty"])
def test_few_free_text_matches_sorted_page_exactly_as_when_walked(many, settings, q):
    """A few matches of free text are sorted, more are not (``LogSearch.reading``): every
    kind of page shows the same rows in the same order either way, ties in
    ``connect_time`` included (the fixture has one)."""
    settings.CONNLOGS_COUNT_CAP = 2000  # 61 matches: few, sorted
    assert _sorted_in_sql(many, q)
    sorted_ = _every_way_through(many, q)
    settings.CONNLOGS_COUNT_CAP = 20  # past the cap: walked
    assert not _sorted_in_sql(many, q)
    walked = _every_way_through(many, q)
    assert sorted_ == walked
    assert walked["next"] and sum(map(len, walked["after_id"])) == len(api_ids(many, q=q))


def test_only_free_text_is_sorted(many, settings):
    """Keys with column statistics and ordered indexes are walked however few they match."""
    settings.CONNLOGS_COUNT_CAP = 2000
    assert not _sorted_in_sql(many, "workspace:dev")
    assert not _sorted_in_sql(many, "-search:nothing")
