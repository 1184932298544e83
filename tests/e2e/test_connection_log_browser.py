"""The connection log in a real browser: sign in, filter, errors, paging, detail, download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from connlogs import roles
from tests.factories import (
    PASSWORD,
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def data(transactional_db):
    acme = OrganizationFactory(name="acme", display_name="Acme")
    alice = UserFactory(username="alice")
    workspace = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    other = WorkspaceFactory(organization=acme, name="other")
    now = timezone.now()
    rows = []
    for index in range(30):
        rows.append(
            ConnectionLogFactory(
                workspace=other if index % 2 else workspace,
                type="ssh" if index % 3 else "vscode",
                connect_time=now - dt.timedelta(minutes=5 + index),
                disconnect_time=now - dt.timedelta(minutes=index),
                code=0,
            )
        )
    hostile = ConnectionLogFactory(
        workspace=workspace,
        type="workspace_app",
        user_agent=SCRIPT,
        connect_time=now - dt.timedelta(minutes=1),
        code=200,
    )
    reader = member(acme, roles.ORGANIZATION_AUDITOR, username="ada")
    return {"reader": reader, "hostile": hostile, "rows": rows, "alice": alice}


@pytest.fixture
def signed_in_page(page: Page, live_server, data) -> Page:
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/connectionlog")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/connectionlog$"))
    yield page
    assert dialogs == [], "a script from the data ran"


def summary(page: Page):
    return page.locator("#summary")


def test_sign_in_then_a_menu_writes_the_query_box(signed_in_page: Page):
    page = signed_in_page
    expect(page.locator(".account-name")).to_have_text("ada")
    expect(page.get_by_text("Organization Auditor · Acme")).to_be_visible()
    expect(summary(page)).to_contain_text("Showing 1–25 of 31")
    page.get_by_label("Type", exact=True).select_option("vscode")
    expect(page).to_have_url(re.compile(r"q=type%3Avscode"))
    expect(page.locator("#q")).to_have_value("type:vscode")
    expect(summary(page)).to_contain_text("of 10 matching")
    page.get_by_label("Status", exact=True).select_option("completed")
    expect(page.locator("#q")).to_have_value("type:vscode status:completed")
    page.get_by_test_id("clear").click()
    expect(page.locator("#q")).to_have_value("")


def test_a_typed_query_error_is_shown_under_the_box(signed_in_page: Page):
    page = signed_in_page
    page.locator("#q").fill("type:nope")
    page.locator("#q").press("Enter")
    errors = page.locator("#q-errors")
    expect(errors).to_contain_text("Invalid connection search query.")
    expect(errors).to_contain_text(
        'Query param "type" has invalid value: "nope" is not a valid value'
    )
    expect(page.locator("#q")).to_have_value("type:nope")


def test_page_forward_and_back(signed_in_page: Page):
    page = signed_in_page
    first_rows = page.locator("tr.log").all_inner_texts()
    page.get_by_role("link", name="Next").click()
    expect(summary(page)).to_contain_text("Showing 26–31 of 31")
    expect(page.locator("tr.log")).to_have_count(6)
    page.get_by_role("link", name="Previous").click()
    expect(summary(page)).to_contain_text("Showing 1–25 of 31")
    assert page.locator("tr.log").all_inner_texts() == first_rows
    page.get_by_role("link", name="Page 2").click()
    expect(summary(page)).to_contain_text("Showing 26–31 of 31")


def test_detail_page_and_show_only_this(signed_in_page: Page, data):
    page = signed_in_page
    target = data["rows"][0]
    page.locator(f'tr[data-href="/connectionlog/{target.id}"] .c-time a').click()
    expect(page).to_have_url(re.compile(rf"/connectionlog/{target.id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("alice/dev")
    owner_row = page.locator(".fields > div", has=page.locator("dt", has_text="Owner"))
    owner_row.get_by_role("link", name="show only this").click()
    expect(page.locator("#q")).to_have_value("workspace_owner:alice")
    expect(summary(page)).to_contain_text("of 16 matching")


def test_download_csv_of_the_current_search(signed_in_page: Page):
    page = signed_in_page
    page.get_by_label("Type", exact=True).select_option("vscode")
    expect(page.locator("#q")).to_have_value("type:vscode")
    with page.expect_download() as info:
        page.get_by_test_id("download-csv").click()
    download = info.value
    assert re.fullmatch(
        r"connection-log-\d{8}T\d{6}Z-[0-9a-f]{8}\.csv", download.suggested_filename
    )
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert len(rows) == 10
    assert {row["type"] for row in rows} == {"vscode"}


def test_a_hostile_user_agent_is_shown_as_text(signed_in_page: Page, data):
    page = signed_in_page
    page.goto(f"{page.url.split('/connectionlog')[0]}/connectionlog/{data['hostile'].id}")
    expect(page.get_by_test_id("user-agent")).to_have_text(SCRIPT)
    assert page.locator("script", has_text="alert(1)").count() == 0


def test_everything_works_without_javascript(browser, live_server, data):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username or email").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Type", exact=True).select_option("ssh")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#q")).to_have_value("type:ssh")
    expect(summary(page)).to_contain_text("of 20 matching")
    context.close()
