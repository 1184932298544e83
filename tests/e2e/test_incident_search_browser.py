"""The incident search in a real browser: click a value to filter, remove a chip, find a
session by overlap with "active during", and the new parts on a 390-pixel phone."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from connlogs import roles
from tests import factories
from tests.e2e.test_phone_and_refresh import PHONE, assert_fits, sign_in

DAY = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


@pytest.fixture
def incident(transactional_db):
    acme = factories.OrganizationFactory(name="acme")
    frank = factories.UserFactory(username="frank")
    mobile = factories.WorkspaceFactory(organization=acme, owner=frank, name="mobile-app")
    now = timezone.now()

    def row(**fields):
        return factories.ConnectionLogFactory(
            workspace=mobile, workspace_name="mobile-app", **fields
        )

    made = {
        # 08:30–10:00: overlaps a 09:00–18:00 window without starting in it.
        "overlap": row(
            type="ssh",
            connect_time=DAY.replace(hour=8, minute=30),
            disconnect_time=DAY.replace(hour=10),
            ip="10.1.2.3",
            code=0,
        ),
        "before": row(
            type="ssh",
            connect_time=DAY.replace(hour=6),
            disconnect_time=DAY.replace(hour=7),
            ip="10.1.2.3",
            code=0,
        ),
        "other_ip": row(
            type="vscode",
            connect_time=now - dt.timedelta(hours=1),
            disconnect_time=now - dt.timedelta(minutes=20),
            ip="192.0.2.50",
            code=1,
        ),
        "stale": row(type="ssh", connect_time=now - dt.timedelta(days=28), ip="192.0.2.51"),
    }
    factories.UserFactory(username="root", site_roles=[roles.OWNER])
    return made


def row_of(page: Page, log):
    return page.locator(f'tr[data-href="/connectionlog/{log.id}"]')


def test_clicking_an_ip_in_the_list_filters_by_it(page: Page, live_server, incident):
    sign_in(page, live_server, "root")
    expect(page.locator("tr.log")).to_have_count(4)
    row_of(page, incident["overlap"]).locator('[data-filter="ip"]').click()
    expect(page.locator("#q")).to_have_value("ip:10.1.2.3")
    expect(page.locator("tr.log")).to_have_count(2)
    expect(row_of(page, incident["other_ip"])).to_have_count(0)
    expect(page.get_by_test_id("chips")).to_contain_text("ip:10.1.2.3")


def test_removing_a_chip_drops_its_term(page: Page, live_server, incident):
    sign_in(page, live_server, "root", "/connectionlog?q=type%3Assh+ip%3A10.1.2.3")
    expect(page.locator("tr.log")).to_have_count(2)
    page.get_by_role("link", name="Remove ip:10.1.2.3").click()
    expect(page.locator("#q")).to_have_value("type:ssh")
    expect(page.locator("tr.log")).to_have_count(3)  # the stale SSH session is back
    page.get_by_role("link", name="Remove type:ssh").click()
    expect(page.locator("#q")).to_have_value("")
    expect(page.get_by_test_id("chips")).to_have_count(0)


def test_active_during_finds_the_session_that_started_before_the_window(
    page: Page, live_server, incident
):
    sign_in(page, live_server, "root")
    page.get_by_label("Time range").select_option("custom")
    page.locator("#m-from").fill("2026-11-24T09:00")
    page.locator("#m-to").fill("2026-11-24T18:00")
    page.get_by_label("Active during").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#q")).to_have_value(re.compile(r"^active_after:.*active_before:"))
    expect(row_of(page, incident["overlap"])).to_be_visible()
    expect(row_of(page, incident["before"])).to_have_count(0)
    expect(row_of(page, incident["overlap"]).locator(".c-end time")).to_have_text("10:00:00")
    expect(page.get_by_label("Active during")).to_be_checked()
    # The same window read as "started during" misses it: it started at 08:30.
    page.get_by_label("Started during").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#q")).to_have_value(re.compile(r"^connected_after:"))
    expect(row_of(page, incident["overlap"])).to_have_count(0)


def test_presets_chips_and_stale_sessions_fit_a_phone(browser, live_server, incident):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, live_server, "root")
        page.get_by_role("link", name="Stale sessions").click()
        expect(page.locator("#q")).to_have_value("status:stale")
        stale = row_of(page, incident["stale"])
        expect(stale).to_contain_text("no disconnect received · 28 d")
        expect(page.locator("tr.log")).to_have_count(1)
        assert_fits(page)
        page.goto(f"{live_server.url}/connectionlog?q=type%3Assh+ip%3A10.1.2.3+-agent%3Ax")
        expect(page.get_by_test_id("chips").locator("li")).to_have_count(3)
        assert_fits(page)
        page.goto(f"{live_server.url}/connectionlog/{incident['overlap'].id}")
        assert_fits(page)
    finally:
        context.close()
