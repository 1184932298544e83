"""What the pager says never contradicts itself: totals, ranges, gaps and page links."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
from django.utils import timezone

from connlogs import roles
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory
from tests.web.conftest import row_ids, signed_in

ROWS = 61
SUMMARY = re.compile(
    r"Showing <strong>([\d,]+)–([\d,]+)</strong> of <strong>([\d,]+)(\+?)</strong>"
)
TRAILING_GAP = re.compile(r'page-gap">…</span>\s*<span class="btn btn-small" aria-disabled')
PAGE_LINK = re.compile(r'<a class="page-num" href="([^"]+)" aria-label="Page ([\d,]+)">')


@pytest.fixture
def owner(db):
    workspace = WorkspaceFactory(organization=OrganizationFactory(name="acme"), name="dev")
    base = timezone.now() - dt.timedelta(days=1)
    for minute in range(ROWS):
        ConnectionLogFactory(workspace=workspace, connect_time=base + dt.timedelta(minutes=minute))
    return UserFactory(username="root", site_roles=[roles.OWNER])


def number(text: str) -> int:
    return int(text.replace(",", ""))


def check_consistent(client, response) -> None:
    """The page's own claims agree: its range, its total, its gaps and its links."""
    html = response.content.decode()
    pages = html.split('<nav class="pager"', 1)[-1]
    ids = row_ids(response)
    found = SUMMARY.search(html)
    if ids:
        first, last, total, plus = found.groups()
        first, last, total = number(first), number(last), number(total)
        assert last - first + 1 == len(ids)
        assert last <= total
        if plus:
            assert 'rel="next"' in html, "a lower bound, yet nothing follows"
            assert last < ROWS
        else:
            assert total == ROWS
        if 'rel="next"' not in html:
            assert not plus and last == total, "the last page knows the total"
            assert not TRAILING_GAP.search(pages), "a gap after the last page"
    for href, label in PAGE_LINK.findall(pages):
        target = client.get(html_lib.unescape(href))
        assert row_ids(target), f"page {label} is linked but empty"


@pytest.mark.parametrize("cap", [40, 2000])
@pytest.mark.parametrize("size", [25, 50])
def test_every_numbered_page_agrees_with_itself(owner, settings, cap, size):
    settings.CONNLOGS_COUNT_CAP = cap
    client = signed_in(owner)
    for page in range(1, 6):
        response = client.get("/connectionlog", {"page": page, "per_page": size})
        check_consistent(client, response)


def test_deep_pages_past_the_cap_raise_the_total_instead_of_contradicting_it(owner, settings):
    settings.CONNLOGS_COUNT_CAP = 20
    client = signed_in(owner)
    html = client.get("/connectionlog", {"page": 2}).content.decode()
    # Rows 26-50 exist and more follow: "of 20+" would be a contradiction.
    assert "Showing <strong>26–50</strong> of <strong>50+</strong>" in html
    html = client.get("/connectionlog", {"page": 3}).content.decode()
    assert "Showing <strong>51–61</strong> of <strong>61</strong>" in html
    pages = html.split('<div class="pages">', 1)[1].split("</div>", 1)[0]
    assert "…" not in pages


def test_cursor_pages_reach_the_exact_total_at_the_end(owner, settings):
    settings.CONNLOGS_COUNT_CAP = 20
    client = signed_in(owner)
    response = client.get("/connectionlog")
    while True:
        check_consistent(client, response)
        following = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        if not following:
            break
        response = client.get(html_lib.unescape(following.group(1)))
    assert "of <strong>61</strong>" in response.content.decode()


@pytest.mark.parametrize("cap", [40, 2000])
def test_a_page_past_the_end_links_only_to_pages_with_rows(owner, settings, cap):
    settings.CONNLOGS_COUNT_CAP = cap
    client = signed_in(owner)
    response = client.get("/connectionlog", {"page": 500})
    html = response.content.decode()
    assert "Nothing on page 500" in html
    assert "This search has 61 connections; this page is past the last one." in html
    labels = [label for _, label in PAGE_LINK.findall(html)]
    assert labels == ["1", "2", "3"]
    assert 'rel="prev" href="/connectionlog?page=3"' in html
    check_consistent(client, response)


def test_a_cursor_page_number_from_the_address_stays_among_the_pages(owner):
    client = signed_in(owner)
    first = client.get("/connectionlog")
    last_row = row_ids(first)[-1]
    # "page=40" is what the address says; the rows after that cursor are page 2.
    response = client.get("/connectionlog", {"after": last_row, "page": 40})
    assert "Showing <strong>26–50</strong> of <strong>61</strong>" in response.content.decode()
    check_consistent(client, response)
