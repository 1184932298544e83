"""Address parameters the pages cannot read are a message and a 400, never dropped silently.

``page``, ``per_page``, the cursors ``after``/``before``, the menus' ``range`` and ``during``
(list page), the access log's ``page`` and the alert form's ``preset``: each kind of bad
value (not a number, out of range, not an id, not an option) names its parameter.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest

from connlogs import roles
from connlogs.web import menus
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory
from tests.web.conftest import row_ids, signed_in

ERRORS = re.compile(r'<div id="q-errors" class="q-errors" role="alert">(.*?)</div>', re.S)


@pytest.fixture
def owner(db):
    workspace = WorkspaceFactory(organization=OrganizationFactory(name="acme"), name="dev")
    for _ in range(3):
        ConnectionLogFactory(workspace=workspace)
    return UserFactory(username="root", site_roles=[roles.OWNER])


def errors_of(response) -> str:
    found = ERRORS.search(response.content.decode())
    assert found, "no error box on the page"
    return html_lib.unescape(found.group(1))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-5"}, "page"),
        ({"page": "2.5"}, "page"),
        ({"page": "١"}, "page"),
        ({"page": "1_0"}, "page"),
        ({"page": ["abc", "1"]}, "page"),
        ({"page": ["1", "2"]}, "page"),
        ({"per_page": ["50", "25"]}, "per_page"),
        ({"per_page": "37"}, "per_page"),
        ({"per_page": "lots"}, "per_page"),
        ({"after": "not-an-id"}, "after"),
        ({"before": "12345"}, "before"),
    ],
)
def test_a_paging_parameter_the_list_cannot_read_is_named(owner, params, field):
    response = signed_in(owner).get("/connectionlog", params)
    assert response.status_code == 400
    box = errors_of(response)
    assert "This address has a value the page cannot read." in box
    assert f"<code>{field}</code>" in box
    given = params[field]
    assert given in box if isinstance(given, str) else "provided more than once" in box
    assert row_ids(response) == []


def test_paging_after_and_before_one_row_at_once_is_named(owner):
    ids = row_ids(signed_in(owner).get("/connectionlog"))
    response = signed_in(owner).get("/connectionlog", {"after": ids[0], "before": ids[-1]})
    assert response.status_code == 400
    assert "<code>before</code>" in errors_of(response)


def test_the_message_links_to_the_same_search_without_the_bad_value(owner):
    client = signed_in(owner)
    response = client.get("/connectionlog", {"q": "organization:acme", "page": "x"})
    link = re.search(r'href="([^"]+)" data-testid="address-fix"', response.content.decode())
    target = client.get(html_lib.unescape(link.group(1)))
    assert target.status_code == 200
    assert len(row_ids(target)) == 3


def test_search_errors_and_address_errors_show_together(owner):
    response = signed_in(owner).get("/connectionlog", {"q": "type:nope", "page": "x"})
    box = errors_of(response)
    assert "Invalid connection search query." in box
    assert "<code>type</code>" in box and "<code>page</code>" in box
    assert 'data-testid="address-fix"' not in box  # the search itself needs fixing first


def test_a_page_past_the_end_is_still_an_empty_page(owner):
    for page in ("999999999999", "4"):
        response = signed_in(owner).get("/connectionlog", {"page": page})
        assert response.status_code == 200, page
        assert "this page is past the last one" in response.content.decode()


@pytest.mark.parametrize(("name", "value"), [("range", "bogus"), ("during", "sometime")])
def test_a_menu_value_no_menu_offers_is_named_not_applied(owner, name, value):
    q = "connected_after:2026-01-01T00:00:00Z"
    shown = menus.encode_shown({"range": "custom", "during": "started"})
    response = signed_in(owner).get("/connectionlog", {"q": q, "shown": shown, name: value})
    # Before, range=bogus redirected to the search with its time range cleared.
    assert response.status_code == 400
    box = errors_of(response)
    assert f"<code>{name}</code>" in box and value in box
    assert f'value="{q}"' in response.content.decode()


def test_menu_values_the_menus_offer_still_redirect(owner):
    shown = menus.encode_shown({"range": "", "during": "started"})
    response = signed_in(owner).get(
        "/connectionlog", {"q": "", "shown": shown, "range": "24h", "during": "active"}
    )
    assert response.status_code == 302
    assert "active_after%3A-24h" in response["Location"]


@pytest.mark.parametrize("page", ["abc", "0", "-1"])
def test_the_access_log_names_a_page_it_cannot_read(owner, page):
    response = signed_in(owner).get("/accesslog", {"page": page})
    assert response.status_code == 400
    text = html_lib.unescape(response.content.decode())
    assert "This address has a value the page cannot read." in text
    assert "<code>page</code>" in text


def test_the_alert_form_names_a_preset_it_does_not_ship(owner):
    client = signed_in(owner)
    response = client.get("/connectionlog/alerts/new", {"preset": "no-such-preset"})
    assert response.status_code == 400
    text = html_lib.unescape(response.content.decode())
    assert 'Query param "preset" must be one of' in text and "no-such-preset" in text
    assert client.get("/connectionlog/alerts/new").status_code == 200


def test_an_unknown_time_zone_is_said_and_the_chosen_one_stays(owner):
    client = signed_in(owner)
    client.post("/preferences/timezone", {"tz": "Europe/Paris", "next": "/connectionlog"})
    response = client.post(
        "/preferences/timezone", {"tz": "Mars/Base", "next": "/connectionlog"}, follow=True
    )
    text = html_lib.unescape(response.content.decode())
    assert "Unknown time zone 'Mars/Base'" in text
    assert client.cookies["connlogs_tz"].value == "Europe/Paris"
    assert "Europe/Paris" in text


def test_the_fix_link_keeps_the_view_the_search_came_from(owner):
    client = signed_in(owner)
    response = client.get("/connectionlog", {"view": "active-ssh-now", "page": "x"})
    link = re.search(r'href="([^"]+)" data-testid="address-fix"', response.content.decode())
    assert "view=active-ssh-now" in html_lib.unescape(link.group(1))
    assert client.get(html_lib.unescape(link.group(1))).status_code == 200


def test_a_custom_range_in_other_scripts_digits_is_named_not_read(owner):
    shown = menus.encode_shown({"range": "", "from": ""})
    response = signed_in(owner).get(
        "/connectionlog", {"q": "", "shown": shown, "range": "custom", "from": "٢٠٢٥-01-01T00:00"}
    )
    if response.status_code == 302:  # the menu writes what was typed; the search names it
        response = signed_in(owner).get(response["Location"])
    assert response.status_code == 400
    assert "connected_after" in errors_of(response)
