"""The pages in a real browser: a 390-pixel phone, the admin at 1440, the refresh link
without JavaScript, API docs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from connlogs import roles
from connlogs.models import User
from tests import factories

PHONE = {"width": 390, "height": 844}
LONG = "a-rather-long-workspace-name-that-goes-on-and-on"
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((element) => element.getBoundingClientRect().right > width + 0.5)
    .filter((element) => !element.closest(".json"))
    .slice(0, 5)
    .map((element) => [element.tagName, element.className, element.getBoundingClientRect().right]);
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


@pytest.fixture
def data(transactional_db):
    acme = factories.OrganizationFactory(name="acme", display_name="Acme Corporation International")
    globex = factories.OrganizationFactory(name="globex", display_name="Globex")
    alice = factories.UserFactory(username="alice-with-a-long-username")
    workspace = factories.WorkspaceFactory(organization=acme, owner=alice, name=LONG)
    other = factories.WorkspaceFactory(organization=globex, owner=alice, name="api")
    now = timezone.now()
    rows = []
    for index in range(60):
        rows.append(
            factories.ConnectionLogFactory(
                workspace=workspace if index % 2 else other,
                workspace_name=LONG if index % 2 else "api",
                agent_name="main-agent-with-a-long-name",
                type=("ssh", "vscode", "workspace_app", "port_forwarding")[index % 4],
                connect_time=now - dt.timedelta(minutes=3 * index),
                disconnect_time=None if index % 5 == 0 else now - dt.timedelta(minutes=index),
                code=(0, 137, 200, 502)[index % 4],
                ip="2001:db8:85a3:8d3:1319:8a2e:370:7348",
                slug_or_port="8080" if index % 4 == 3 else "code-server-with-a-long-slug",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/120.0.0.0 Safari/537.36" * 2,
                disconnect_reason="the agent lost its connection to the control plane after "
                "a very long time without heartbeats",
                user=alice if index % 4 == 2 else None,
            )
        )
    reader = factories.member(acme, roles.ORGANIZATION_AUDITOR, username="ada")
    owner = factories.UserFactory(username="root", site_roles=[roles.OWNER])
    return {"reader": reader, "owner": owner, "rows": rows}


def sign_in(page: Page, live_server, username: str, next_path: str = "/connectionlog") -> None:
    """Open ``next_path`` signed in as ``username`` (a session made on the server side)."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    page.goto(live_server.url + next_path)
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def assert_fits(page: Page) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"], found


@pytest.fixture
def phone(browser, live_server, data):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, live_server, "root")
    yield page
    context.close()


def test_list_and_detail_fit_a_phone(phone: Page, live_server, data):
    page = phone
    assert_fits(page)
    page.locator("#q").fill('type:ssh connected_after:"2020-01-01T00:00:00Z"')
    page.locator("#q").press("Enter")
    expect(page.get_by_test_id("clear")).to_be_visible()
    assert_fits(page)
    page.get_by_label("Time range").select_option("custom")
    assert_fits(page)
    page.goto(f"{live_server.url}/connectionlog?page=2")
    assert_fits(page)
    for row in (data["rows"][1], data["rows"][2]):
        page.goto(f"{live_server.url}/connectionlog/{row.id}")
        assert_fits(page)
        page.locator("details summary").click()
        assert_fits(page)


@pytest.fixture
def desk(browser, live_server, data):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def test_without_javascript_the_page_offers_a_refresh_link_not_follow(browser, live_server, data):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, "ada", "/connectionlog?q=type%3Assh")
    refresh = page.get_by_test_id("refresh")
    expect(refresh).to_be_visible()
    assert refresh.get_attribute("href") == "/connectionlog?q=type%3Assh"
    expect(page.locator("[data-follow]")).to_be_hidden()
    refresh.click()
    expect(page).to_have_url(re.compile(r"/connectionlog\?q=type%3Assh$"))
    context.close()


def test_admin_incident_columns_fit_1440_pixels(desk: Page, live_server):
    page = desk
    sign_in(page, live_server, "root", "/admin/connlogs/connectionlog/")
    expect(page.locator("#result_list")).to_be_visible()
    results = page.locator("#changelist .results")
    shown = results.evaluate("(element) => element.getBoundingClientRect().right")
    assert results.evaluate("(element) => element.scrollWidth <= element.clientWidth")
    for column in ("connected", "workspace_label", "ip", "code", "status", "disconnected"):
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= min(shown, 1440) + 0.5, column
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    first = page.locator("#result_list tbody tr").first.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d UTC", first)


@pytest.mark.parametrize(
    "scheme, sent",
    [
        ("CoderSessionToken (apiKey)", "Coder-Session-Token: my-token-123"),
        ("BearerToken", "Authorization: Bearer my-token-123"),
    ],
)
def test_swagger_curl_carries_the_token(desk: Page, live_server, data, scheme, sent):
    page = desk
    page.goto(f"{live_server.url}/api/v2/docs/")
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    dialog = page.locator(".modal-ux")
    # Only this one scheme is authorized: it alone must be enough.
    block = dialog.locator(".auth-container", has_text=scheme)
    block.locator("input").fill("my-token-123")
    block.locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()
    path = page.locator('.opblock-summary-path[data-path="/api/v2/connectionlog"]')
    operation = page.locator(".opblock-get", has=path)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".curl-command")).to_contain_text(sent)
