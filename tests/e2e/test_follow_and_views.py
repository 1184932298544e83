"""Follow, the keyboard and saved views in a real browser, against the live server.

Events are posted through the write API (a token, over HTTP) while the page is open: the
page must show them without reloading (``window.stillHere`` survives), hold them while the
pointer is on the table, and the keyboard must reach a detail page.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from connlogs import roles, tokens
from tests import factories
from tests.e2e.test_phone_and_refresh import sign_in

SHOWN = 10_000  # ms: the page polls every 3 s


@pytest.fixture
def world(transactional_db):
    acme = factories.OrganizationFactory(name="acme")
    owner = factories.UserFactory(username="root", site_roles=[roles.OWNER])
    workspace = factories.WorkspaceFactory(organization=acme, owner=owner, name="dev")
    now = timezone.now()
    rows = [
        factories.ConnectionLogFactory(
            workspace=workspace,
            workspace_name="dev",
            type="ssh",
            connect_time=now - dt.timedelta(minutes=5 * index + 1),
            disconnect_time=now - dt.timedelta(minutes=5 * index),
        )
        for index in range(5)
    ]
    return {"owner": owner, "workspace": workspace, "rows": rows, "token": tokens.issue(owner)}


def post_connect(
    live_server, world, agent: str, *, action="connect", ago=dt.timedelta(0), connection=None
) -> None:
    """One agent event through ``POST /api/v2/connectionlog/events``, as a reporter would:
    a connect ``ago`` before now (or a disconnect of ``connection``)."""
    event = {
        "action": action,
        "time": (timezone.now() - ago).isoformat().replace("+00:00", "Z"),
        "type": "ssh",
        "workspace_id": str(world["workspace"].id),
        "agent_name": agent,
        "connection_id": connection or str(uuid.uuid4()),
    }
    request = urllib.request.Request(
        f"{live_server.url}/api/v2/connectionlog/events",
        data=json.dumps({"events": [event]}).encode(),
        headers={"Coder-Session-Token": world["token"], "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.fixture
def desk(browser, live_server, world):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "root")
    yield page
    context.close()


def test_follow_shows_a_posted_row_without_a_reload_and_pauses_on_hover(
    desk: Page, live_server, world
):
    page = desk
    page.evaluate("window.stillHere = true")
    page.get_by_role("button", name="Follow").click()
    state = page.locator("[data-follow-state]")
    expect(state).to_have_attribute("data-state", "live")

    post_connect(live_server, world, "first-agent")
    row = page.locator("tr.log", has_text="first-agent")
    expect(row).to_have_count(1, timeout=SHOWN)
    expect(page.locator("tr.log").first).to_contain_text("first-agent")  # at the top
    expect(row.locator(".badge-live")).to_contain_text("ongoing")
    expect(page.locator("[data-follow-live]")).to_have_text("1 new connection")
    assert page.evaluate("window.stillHere") is True

    page.locator("table.logs").hover()
    expect(state).to_have_attribute("data-state", "paused")
    post_connect(live_server, world, "second-agent")
    waiting = page.locator("[data-follow-new]")
    expect(waiting).to_have_text(re.compile(r"^1 new"), timeout=SHOWN)
    expect(page.locator("tr.log", has_text="second-agent")).to_have_count(0)

    page.locator("h1").hover()  # the pointer leaves the table: the held row goes in
    expect(page.locator("tr.log").first).to_contain_text("second-agent")
    expect(waiting).to_be_hidden()
    expect(state).to_have_attribute("data-state", "live")
    assert page.evaluate("window.stillHere") is True

    page.keyboard.press("f")  # the shortcut turns it off, and the choice is remembered
    expect(state).to_have_attribute("data-state", "off")
    page.reload()
    expect(page.locator("[data-follow]")).to_have_attribute("aria-pressed", "false")


def test_follow_places_rows_by_time_and_shows_a_followed_session_end(
    desk: Page, live_server, world
):
    """A change goes where the list's order puts it (a connect 8 minutes ago between the rows
    of 6 and 11 minutes ago; one older than a page with a next one stays off it, and goes
    last on a page that holds the whole search), and a session the page shows as ongoing
    turns ended even when the search (``status:ongoing``) drops it."""
    page = desk
    for hours in range(1, 26):  # a second page: the first ends a day ago
        factories.ConnectionLogFactory(
            workspace=world["workspace"],
            workspace_name="dev",
            type="ssh",
            connect_time=timezone.now() - dt.timedelta(hours=hours),
            disconnect_time=timezone.now() - dt.timedelta(hours=hours, minutes=-1),
        )
    page.reload()
    page.get_by_role("button", name="Follow").click()
    post_connect(live_server, world, "between", ago=dt.timedelta(minutes=8))
    post_connect(live_server, world, "too-old", ago=dt.timedelta(days=3))
    expect(page.locator("tr.log").nth(2)).to_contain_text("between", timeout=SHOWN)
    expect(page.locator("[data-follow-live]")).to_have_text("1 new connection")
    expect(page.locator("tr.log", has_text="too-old")).to_have_count(0)  # a later page's

    session = str(uuid.uuid4())
    post_connect(live_server, world, "watched", connection=session)
    page.goto(f"{live_server.url}/connectionlog?q=status:ongoing")
    row = page.locator("tr.log", has_text="watched")
    expect(row.locator(".badge-live")).to_contain_text("ongoing")
    post_connect(live_server, world, "watched", action="disconnect", connection=session)
    expect(row).to_have_class(re.compile(r"\bis-left\b"), timeout=SHOWN)
    expect(row.locator(".badge-live")).to_have_count(0)
    expect(page.locator("[data-follow-live]")).to_have_text("1 ended")
    # This page holds the whole search: an older session that comes to match goes last.
    post_connect(live_server, world, "older", ago=dt.timedelta(days=5))  # before "too-old"
    expect(page.locator("tr.log").last).to_contain_text("older", timeout=SHOWN)


def test_the_keyboard_reaches_a_detail_page(desk: Page, live_server, world):
    page = desk
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("tr.log").nth(1)
    expect(second).to_be_focused()
    wanted = second.get_attribute("data-href")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(wanted) + "$"))
    page.go_back()
    page.keyboard.press("?")
    expect(page.locator("[data-shortcuts]")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()


def test_save_a_view_reload_and_pick_it_from_the_menu(desk: Page, live_server, world):
    page = desk
    page.locator("#q").fill("type:ssh")
    page.locator("#q").press("Enter")
    expect(page).to_have_url(re.compile(r"q=type%3Assh"))
    page.get_by_text("Save view").click()
    page.get_by_label("Name").fill("SSH <b>now</b>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?view=[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("current-view")).to_have_text("SSH <b>now</b>")

    page.goto(f"{live_server.url}/connectionlog?q=")
    page.reload()
    page.locator("[data-views-menu] summary").click()
    page.get_by_role("menuitem").filter(has_text="SSH <b>now</b>").click()
    expect(page).to_have_url(re.compile(r"\?view=[0-9a-f-]{36}$"))
    expect(page.locator("#q")).to_have_value("type:ssh")

    page.get_by_role("button", name="Make this my start view").click()
    expect(page.get_by_role("button", name="Stop opening with this view")).to_be_visible()
    page.goto(f"{live_server.url}/connectionlog")
    expect(page).to_have_url(re.compile(r"\?view=[0-9a-f-]{36}$"))
