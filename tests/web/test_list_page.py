"""The list page: the q box and menus (one language), rows, empty states, time zones."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from django.utils.html import strip_tags

from connlogs.values import format_time
from connlogs.web import menus
from tests.factories import ConnectionLogFactory, OrganizationFactory, WorkspaceFactory, member
from tests.web.conftest import row_ids, signed_in


def q_of(location: str) -> str:
    return parse_qs(urlsplit(location).query).get("q", [""])[0]


def submit(client, **fields):
    """Submit the filter form as the browser would, from the page state ``shown``."""
    response = client.get("/connectionlog", fields)
    assert response.status_code == 302
    location = response["Location"]
    params = parse_qs(urlsplit(location).query)
    assert not {"page", "after", "before"} & set(params), "a change goes back to page 1"
    return location


@pytest.fixture
def owner_client(world):
    return signed_in(world.people["owner"])


# --- the menus write terms into q and read them back -------------------------------------


def test_a_menu_writes_its_term_into_q(owner_client):
    location = submit(owner_client, q="", shown=menus.encode_shown({"type": ""}), type="ssh")
    assert q_of(location) == "type:ssh"
    page = owner_client.get(location)
    assert 'value="type:ssh"' in page.content.decode()
    assert re.search(r'<option value="ssh" selected>SSH</option>', page.content.decode())


def test_a_menu_keeps_the_other_terms_and_clearing_it_removes_its_own(owner_client):
    shown = menus.encode_shown({"type": "ssh", "status": ""})
    location = submit(
        owner_client, q="workspace_owner:alice type:ssh", shown=shown, status="ongoing"
    )
    assert q_of(location) == "workspace_owner:alice type:ssh status:ongoing"
    shown = menus.encode_shown({"type": "ssh", "status": "ongoing"})
    location = submit(owner_client, q=q_of(location), shown=shown, type="", status="ongoing")
    assert q_of(location) == "workspace_owner:alice status:ongoing"


def test_menus_left_alone_never_rewrite_what_was_typed(owner_client):
    shown = menus.encode_shown({"type": "", "status": ""})
    location = submit(
        owner_client,
        q='type:VSCode  connected_after:"2025-01-01T00:00:00Z"',
        shown=shown,
        type="",
        status="",
    )
    assert q_of(location) == 'type:VSCode  connected_after:"2025-01-01T00:00:00Z"'


def test_a_hand_written_menu_address_becomes_q(owner_client):
    location = submit(owner_client, status="completed")
    assert q_of(location) == "status:completed"


def test_time_range_preset_writes_a_relative_connected_after_and_reads_back(owner_client, world):
    """ "Last 24 hours" is written as ``-24h`` (a bookmark keeps meaning the last 24 hours, as
    the quick searches' do), replacing the range's end."""
    shown = menus.encode_shown({"range": ""})
    location = submit(
        owner_client, q='connected_before:"2020-01-01T00:00:00Z"', shown=shown, range="24h"
    )
    assert q_of(location) == "connected_after:-24h"
    page = owner_client.get(location)
    assert page.context["menus"].shown["range"] == "24h"
    # The last 24 hours hold the five rows.
    assert len(row_ids(page)) == 5


def test_any_time_removes_both_bounds(owner_client):
    shown = menus.encode_shown({"range": "custom"})
    q = 'type:ssh connected_after:"2025-01-01T00:00:00Z" connected_before:"2025-02-01T00:00:00Z"'
    assert q_of(submit(owner_client, q=q, shown=shown, range="")) == "type:ssh"


def test_custom_from_and_to_write_utc_times(owner_client):
    shown = menus.encode_shown({"from": "", "to": ""})
    location = submit(
        owner_client, shown=shown, **{"from": "2025-07-10T10:00", "to": "2025-07-10T11:30:15"}
    )
    # "To 11:30:15" includes that whole second.
    assert q_of(location) == (
        'connected_after:"2025-07-10T10:00:00Z" connected_before:"2025-07-10T11:30:15.999999Z"'
    )


@pytest.mark.parametrize(
    "zone, typed, before",
    [
        ("UTC", "2025-07-10T15:31", "2025-07-10T15:31:59.999999Z"),
        ("Europe/Berlin", "2025-07-10T15:31", "2025-07-10T13:31:59.999999Z"),
        # The repeated hour of New York's autumn change: the first 01:59 (EDT).
        ("America/New_York", "2024-11-03T01:59", "2024-11-03T05:59:59.999999Z"),
    ],
)
def test_a_minute_precision_end_includes_its_whole_minute(owner_client, zone, typed, before):
    owner_client.cookies["connlogs_tz"] = zone
    location = submit(owner_client, shown=menus.encode_shown({"to": ""}), to=typed)
    assert q_of(location) == f'connected_before:"{before}"'
    # The start of a range is the start of its minute.
    location = submit(owner_client, shown=menus.encode_shown({"from": ""}), **{"from": typed})
    assert q_of(location).endswith(':00Z"')


def test_a_row_late_in_the_end_minute_is_in_the_range(owner_client):
    late = ConnectionLogFactory(connect_time=dt.datetime(2025, 7, 10, 15, 31, 42, tzinfo=dt.UTC))
    location = submit(
        owner_client,
        shown=menus.encode_shown({"from": "", "to": ""}),
        **{"from": "2025-07-10T15:31", "to": "2025-07-10T15:31"},
    )
    assert row_ids(owner_client.get(location)) == [str(late.id)]


def test_custom_times_are_read_in_the_chosen_time_zone(owner_client):
    owner_client.cookies["connlogs_tz"] = "Europe/Berlin"
    location = submit(
        owner_client, shown=menus.encode_shown({"from": ""}), **{"from": "2025-07-10T12:00"}
    )
    assert q_of(location) == 'connected_after:"2025-07-10T10:00:00Z"'
    page = owner_client.get(location)
    assert page.context["menus"].shown["from"] == "2025-07-10T12:00:00"


def test_a_browser_dropping_zero_seconds_is_not_a_change(owner_client):
    shown = menus.encode_shown({"from": "2025-07-10T10:00:00", "type": ""})
    location = submit(
        owner_client,
        q='connected_after:"2025-07-10T10:00:00Z"',
        shown=shown,
        type="",
        **{"from": "2025-07-10T10:00"},
    )
    assert q_of(location) == 'connected_after:"2025-07-10T10:00:00Z"'


def test_a_bad_custom_time_is_reported_with_the_api_sentence(owner_client):
    location = submit(owner_client, shown=menus.encode_shown({"from": ""}), **{"from": "yesterday"})
    response = owner_client.get(location)
    assert response.status_code == 400
    assert (
        "Query param &quot;connected_after&quot; must be a valid date format"
        in response.content.decode()
    )


def test_menus_do_not_touch_a_query_that_does_not_parse(owner_client):
    location = submit(
        owner_client, q="type:ssh:x", shown=menus.encode_shown({"status": ""}), status="ongoing"
    )
    assert q_of(location) == "type:ssh:x"
    response = owner_client.get(location)
    assert response.context["menus"].disabled is True
    assert '<fieldset class="menus" disabled>' in response.content.decode()


def test_changing_page_size_keeps_q_and_goes_to_page_one(owner_client):
    location = submit(owner_client, q="type:ssh", shown="", per_page="50")
    assert location == "/connectionlog?q=type%3Assh&per_page=50"


def test_type_menu_uses_the_friendly_names(owner_client):
    html = owner_client.get("/connectionlog").content.decode()
    for label in (
        "SSH",
        "VS Code",
        "JetBrains",
        "Web terminal (reconnecting PTY)",
        "Workspace app",
        "Port forwarding",
        "Tunnel",
    ):
        assert f">{label}</option>" in html


def test_organization_menu_only_for_users_who_read_several(world):
    html = signed_in(world.people["owner"]).get("/connectionlog").content.decode()
    assert 'name="organization"' in html
    html = signed_in(world.people["acme_admin"]).get("/connectionlog").content.decode()
    assert 'name="organization"' not in html


def test_organization_menu_filters_by_name(owner_client, world):
    location = submit(
        owner_client, shown=menus.encode_shown({"organization": ""}), organization="globex"
    )
    assert q_of(location) == "organization:globex"
    assert set(row_ids(owner_client.get(location))) == {str(r.id) for r in world.globex_rows}


def test_owner_menu_offers_owners_and_me(owner_client):
    html = owner_client.get("/connectionlog").content.decode()
    assert '<option value="me">' in html and '<option value="alice">' in html


def test_clear_link_drops_the_search(owner_client):
    html = owner_client.get("/connectionlog", {"q": "type:ssh"}).content.decode()
    assert 'href="/connectionlog" data-testid="clear"' in html


# --- q errors: the API's words, and a page that still renders --------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "type:ssh:x",
        "nonsense:x",
        "type:foo status:maybe workspace_id:abc",
        "type:ssh type:vscode",
        'connected_after:"2025-13-01T00:00:00Z"',
        "username:",
    ],
)
def test_q_errors_are_the_apis_validations(world, owner_client, client_for, q):
    api = client_for(world.people["owner"]).get("/api/v2/connectionlog", {"q": q})
    assert api.status_code == 400
    page = owner_client.get("/connectionlog", {"q": q})
    assert page.status_code == 400
    shown = [(v.field, v.detail) for v in page.context["validations"]]
    assert shown == [(v["field"], v["detail"]) for v in api.json()["validations"]]
    html = page.content.decode()
    assert "Invalid connection search query." in html
    assert 'aria-invalid="true"' in html
    assert 'id="filters"' in html  # the search box is still there to fix it


# --- rows ----------------------------------------------------------------------------------


def test_rows_are_grouped_under_day_headers_with_machine_readable_times(owner_client, world):
    html = owner_client.get("/connectionlog").content.decode()
    assert '<tr class="day">' in html
    for row in world.acme_rows + world.globex_rows:
        assert f'<time datetime="{format_time(row.connect_time)}">' in html


def test_each_kind_of_row_reads_right(owner_client):
    html = owner_client.get("/connectionlog").content.decode()
    assert "reported by the agent" in html
    assert "unauthenticated" in html  # the app request with no user
    text = strip_tags(html)  # owner and name are each a link, read as one label
    assert "alice/dev" in text and "bob/api" in text
    assert "10.1.2.3" in html
    assert "ongoing · " in html  # the VS Code session
    assert "12m" in html  # the closed SSH session lasted 12 minutes
    assert "client disconnected" in html
    # Results are words, not just colours.
    assert "exit 0" in html and "exit 137" in html
    assert "404 Not Found" in html
    assert "101 accepted" in html
    assert "pill-ok" in html and "pill-bad" in html and "pill-warn" in html


def test_web_rows_show_the_connecting_user(owner_client, world):
    html = owner_client.get("/connectionlog", {"q": "type:tunnel"}).content.decode()
    assert 'title="alice@example.com"' in html


# --- empty states ----------------------------------------------------------------------------


def test_empty_state_when_nothing_was_ever_recorded(db):
    organization = OrganizationFactory()
    reader = member(organization, "organization-auditor")
    response = signed_in(reader).get("/connectionlog")
    assert response.status_code == 200
    assert 'data-empty="none"' in response.content.decode()
    assert "No connections recorded yet" in response.content.decode()


def test_empty_state_when_nothing_matches(owner_client):
    response = owner_client.get("/connectionlog", {"q": "workspace_owner:nobody"})
    assert response.status_code == 200
    assert 'data-empty="filter"' in response.content.decode()


def test_empty_state_past_the_last_page(owner_client):
    response = owner_client.get("/connectionlog", {"page": "9"})
    html = response.content.decode()
    assert 'data-empty="page"' in html
    assert "Nothing on page 9" in html
    assert 'rel="prev"' in html


def test_an_org_reader_of_an_empty_org_while_another_org_has_rows(world):
    quiet = OrganizationFactory(name="quiet")
    reader = member(quiet, "organization-admin")
    response = signed_in(reader).get("/connectionlog", {"q": "type:ssh"})
    assert 'data-empty="none"' in response.content.decode()


# --- time zones --------------------------------------------------------------------------------


def test_times_show_in_the_chosen_zone_and_utc_by_default(owner_client, world):
    row = world.acme_rows[0]
    html = owner_client.get("/connectionlog").content.decode()
    assert timezone.localtime(row.connect_time, dt.UTC).strftime("%H:%M:%S") in html
    owner_client.cookies["connlogs_tz"] = "Asia/Kolkata"
    html = owner_client.get("/connectionlog").content.decode()
    import zoneinfo

    local = row.connect_time.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert f">{local.strftime('%H:%M:%S')}</time>" in html
    assert "IST" in html


def test_timezone_preference_is_a_posted_form(owner_client):
    response = owner_client.post(
        "/preferences/timezone", {"tz": "Europe/Berlin", "next": "/connectionlog?q=type%3Assh"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/connectionlog?q=type%3Assh"
    assert response.cookies["connlogs_tz"].value == "Europe/Berlin"
    bad = owner_client.post(
        "/preferences/timezone", {"tz": "../../etc/passwd", "next": "https://evil.example/"}
    )
    assert bad["Location"] == "/connectionlog"
    assert "connlogs_tz" not in bad.cookies  # an unknown zone changes nothing (and is said)
    assert owner_client.cookies["connlogs_tz"].value == "Europe/Berlin"


def test_an_unknown_zone_cookie_falls_back_to_utc(owner_client):
    owner_client.cookies["connlogs_tz"] = "Mars/Olympus"
    response = owner_client.get("/connectionlog")
    assert response.status_code == 200
    assert response.context["zone_name"] == "UTC"


def test_unknown_rows_of_other_workspaces_do_not_leak_in_owner_hints(world):
    # The owner menu of an acme reader lists acme's owners, not globex's.
    html = signed_in(world.people["acme_admin"]).get("/connectionlog").content.decode()
    assert '<option value="alice">' in html
    assert '<option value="bob">' not in html


def test_csrf_token_on_every_form(owner_client):
    html = owner_client.get("/connectionlog").content.decode()
    posts = re.findall(r'<form method="post".*?</form>', html, re.S)
    assert len(posts) == 2  # time zone, sign out
    assert all("csrfmiddlewaretoken" in form for form in posts)


def test_many_workspaces_in_one_org_do_not_duplicate_owner_hints(world):
    WorkspaceFactory(organization=world.acme, owner=world.alice, name="second")
    ConnectionLogFactory(workspace=world.acme_ws)
    html = signed_in(world.people["acme_admin"]).get("/connectionlog").content.decode()
    assert html.count('<option value="alice">') == 1


def test_footer_shows_retention_and_the_oldest_visible_row(client, db, settings):
    import datetime as dt

    from django.utils import timezone

    from tests.factories import ConnectionLogFactory, UserFactory

    settings.CONNLOGS_RETENTION = "90d"
    owner = UserFactory(site_roles=["owner"])
    old = ConnectionLogFactory(connect_time=timezone.now() - dt.timedelta(days=40))
    ConnectionLogFactory()
    client.force_login(owner)
    page = client.get("/connectionlog").content.decode()
    assert "Connection logs are kept for 90 days." in page
    assert old.connect_time.strftime("%-d %b %Y") in page


# --- what a menu cannot say, and what it says against the search ---------------------------


def test_a_menu_value_chosen_drops_its_own_exclusion(owner_client):
    """``-type:ssh`` and SSH chosen in the Type menu: the user asks for SSH rows now, so the
    exclusion goes (as a row's "show only" link does), not an empty ``-type:ssh type:ssh``."""
    shown = menus.encode_shown({"type": ""})
    location = submit(owner_client, q="-type:ssh status:completed", shown=shown, type="ssh")
    assert q_of(location) == "status:completed type:ssh"
    other = submit(owner_client, q="-type:vscode", shown=shown, type="ssh")
    assert q_of(other) == "-type:vscode type:ssh"
    listed = submit(owner_client, q="-type:ssh,vscode", shown=shown, type="ssh")
    assert q_of(listed) == "-type:vscode type:ssh"
    named = menus.encode_shown({"workspace_owner": ""})
    typed = submit(owner_client, q="-workspace_owner:alice", shown=named, workspace_owner="Alice")
    assert q_of(typed) == "workspace_owner:Alice"


@pytest.mark.parametrize("typed", ['al"ice', 'a"li"ce', '"alice"', 'x" -workspace_owner:bob "y'])
def test_a_quote_typed_into_a_name_field_is_an_error_not_another_search(owner_client, typed):
    """The language cannot say a double quote: the page shows the text as typed and the
    unclosed quote's error, never alice's rows nor terms the quotes would split off."""
    shown = menus.encode_shown({"workspace_owner": ""})
    location = submit(owner_client, q="", shown=shown, workspace_owner=typed)
    assert typed in q_of(location)
    page = owner_client.get(location)
    assert page.status_code == 400 and "unclosed quote" in page.content.decode()


def test_a_window_that_ends_before_it_starts_says_so(owner_client):
    shown = menus.encode_shown({"from": "", "to": ""})
    location = submit(
        owner_client, shown=shown, **{"from": "2025-07-10T12:00", "to": "2025-07-10T11:00"}
    )
    html = owner_client.get(location).content.decode()
    assert 'id="q-notices"' in html and "The time window is empty" in html
    fine = submit(
        owner_client, shown=shown, **{"from": "2025-07-10T10:00", "to": "2025-07-10T11:00"}
    )
    assert "The time window is empty" not in owner_client.get(fine).content.decode()
    # Active from noon and by 11:00: the sessions spanning the hour between, not empty.
    spanning = 'active_after:"2025-07-10T12:00:00Z" active_before:"2025-07-10T11:00:00Z"'
    html = owner_client.get("/connectionlog", {"q": spanning}).content.decode()
    assert "The time window is empty" not in html
    crossed = 'connected_after:"2025-07-10T12:00:00Z" active_before:"2025-07-10T11:00:00Z"'
    html = owner_client.get("/connectionlog", {"q": crossed}).content.decode()
    assert "The time window is empty" in html
