"""The incident search on the pages, on SQLite and PostgreSQL: values that filter, chips,
the result and workspace menus, "active during", presets, stale sessions, the disconnect column.

Every link is followed and its rows compared with the API's answer for the same term, so a
link that writes the wrong ``q`` (or a term that means something else on the page) fails.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from connlogs import roles
from connlogs.models import SavedView
from connlogs.web import links, presets
from tests.api.conftest import found, incident  # noqa: F401  (the fixture, used by name)
from tests.conftest import as_user
from tests.factories import ConnectionLogFactory, UserFactory
from tests.web.conftest import row_ids, signed_in

FILTER_LINK = re.compile(r'<a (?:class="value" )?data-filter="(\w+)"[^>]*?href="([^"]*)"')
EXCLUDE_LINK = re.compile(r'<a class="exclude" data-exclude="(\w+)" href="([^"]*)"')
CHIP = re.compile(r'<li class="chip"><code>([^<]*)</code><a class="chip-remove" href="([^"]*)"')


@pytest.fixture
def site_owner(db):
    return UserFactory(username="root", site_roles=[roles.OWNER])


@pytest.fixture
def client(site_owner):
    return signed_in(site_owner)


@pytest.fixture
def api(site_owner):
    return as_user(site_owner)


def q_of(url: str) -> str:
    return parse_qs(urlsplit(html.unescape(url)).query).get("q", [""])[0]


def names_shown(incident, response) -> set[str]:  # noqa: F811
    by_id = {str(row.id): name for name, row in incident.rows.items()}
    return {by_id[shown] for shown in row_ids(response)}


def row_block(page: str, row) -> str:
    start = page.rindex("<tr", 0, page.index(f'data-href="/connectionlog/{row.id}"'))
    return page[start : page.index("</tr>", start)]


def row_links(page: str, row) -> dict[str, str]:
    return {part: html.unescape(url) for part, url in FILTER_LINK.findall(row_block(page, row))}


EXPECTED_TERMS = {
    "ssh_0830": {
        "ip": "ip:10.1.2.3",
        "workspace": "workspace:frank/mobile-app",
        "owner": "workspace_owner:frank",
        "agent": "agent:main",
        "type": "type:ssh",
        "result": "result:ok",
    },
    "app_404": {
        "ip": "ip:198.51.100.9",
        "user": "username:carol",
        "type": "type:workspace_app",
        "result": "result:failed",
    },
    "app_200": {"unauthenticated": "authenticated:no", "result": "result:ok"},
    "pf_502": {"ip": 'ip:"2001:db8:1::9"', "workspace": "workspace:bob/mobile-app"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TERMS))
def test_each_value_in_the_list_adds_its_term_and_finds_what_the_api_finds(
    incident,  # noqa: F811
    client,
    api,
    name,
):
    page = client.get("/connectionlog", {"per_page": 100}).content.decode()
    shown = row_links(page, incident.rows[name])
    for part, term in EXPECTED_TERMS[name].items():
        assert q_of(shown[part]) == term, part
        followed = client.get(shown[part])
        assert followed.status_code == 200
        rows = names_shown(incident, followed)
        assert name in rows
        assert rows == found(incident, api, term), term


def test_a_value_link_keeps_the_search_and_replaces_its_exclusion(incident, client):  # noqa: F811
    page = client.get("/connectionlog", {"q": "type:ssh"}).content.decode()
    shown = row_links(page, incident.rows["ssh_0830"])
    assert q_of(shown["ip"]) == "type:ssh ip:10.1.2.3"
    assert links.ListLinks("-ip:10.1.2.3 type:ssh").adding("ip", "10.1.2.3") == (
        links.list_url("type:ssh ip:10.1.2.3")
    )
    assert links.ListLinks("ip:10.1.2.3 type:ssh").leaving_out("ip", "10.1.2.3") == (
        links.list_url("type:ssh -ip:10.1.2.3")
    )


def test_the_detail_page_adds_or_excludes_each_value_in_the_search_it_came_from(
    incident,  # noqa: F811
    client,
    api,
):
    row = incident.rows["ssh_0830"]
    came_from = "http://testserver/connectionlog?q=status%3Acompleted"
    page = client.get(f"/connectionlog/{row.id}", HTTP_REFERER=came_from).content.decode()
    added = {part: html.unescape(url) for part, url in FILTER_LINK.findall(page)}
    excluded = {part: html.unescape(url) for part, url in EXCLUDE_LINK.findall(page)}
    assert set(excluded) == {"type", "result", "ip", "owner", "workspace", "agent"}
    assert q_of(added["ip"]) == "status:completed ip:10.1.2.3"
    assert q_of(excluded["ip"]) == "status:completed -ip:10.1.2.3"
    without = names_shown(incident, client.get(excluded["ip"]))
    assert "ssh_0830" not in without
    assert without == found(incident, api, "status:completed -ip:10.1.2.3")
    assert q_of(excluded["workspace"]) == "status:completed -workspace:frank/mobile-app"


def test_an_unauthenticated_request_links_to_all_of_them(incident, client, api):  # noqa: F811
    row = incident.rows["app_200"]
    page = client.get(f"/connectionlog/{row.id}").content.decode()
    excluded = dict(EXCLUDE_LINK.findall(page))
    assert q_of(excluded["unauthenticated"]) == "-authenticated:no"


def test_chips_show_each_term_and_remove_it_without_javascript(incident, client, api):  # noqa: F811
    q = 'type:ssh ip:10.0.0.0/8 active_after:"2020-01-01T00:00:00Z" mobile'
    page = client.get("/connectionlog", {"q": q}).content.decode()
    chips = {html.unescape(text): html.unescape(url) for text, url in CHIP.findall(page)}
    assert set(chips) == {
        "type:ssh",
        "ip:10.0.0.0/8",
        'active_after:"2020-01-01T00:00:00Z"',
        "mobile",
    }
    assert (
        q_of(chips["ip:10.0.0.0/8"]) == 'type:ssh active_after:"2020-01-01T00:00:00Z" search:mobile'
    )
    remaining = 'type:ssh active_after:"2020-01-01T00:00:00Z" mobile'
    assert names_shown(incident, client.get(chips["ip:10.0.0.0/8"])) == found(
        incident, api, remaining
    )
    assert q_of(chips["type:ssh"]).startswith("ip:10.0.0.0/8")


def test_no_chips_for_a_search_that_does_not_parse(incident, client):  # noqa: F811
    page = client.get("/connectionlog", {"q": "type:ssh colour:red"}).content.decode()
    assert 'class="chips"' not in page
    page = client.get("/connectionlog").content.decode()
    assert 'class="chips"' not in page


def _submit(client, shown_q: str, **menus):
    """Submit the filter form as the page showed it for ``shown_q``, with ``menus`` changed."""
    page = client.get("/connectionlog", {"q": shown_q}).content.decode()
    shown = html.unescape(re.search(r'name="shown" value="([^"]*)"', page)[1])
    params = {"q": shown_q, "shown": shown, **dict(parse_qs_flat(shown)), **menus}
    response = client.get("/connectionlog", params)
    assert response.status_code == 302
    return q_of(response["Location"])


def parse_qs_flat(text: str) -> dict[str, str]:
    return {key: value[0] for key, value in parse_qs(text, keep_blank_values=True).items()}


def test_the_result_and_workspace_menus_write_their_terms(incident, client):  # noqa: F811
    assert _submit(client, "type:ssh", result="failed") == "type:ssh result:failed"
    assert _submit(client, "result:failed", result="") == ""
    assert _submit(client, "", workspace="frank/mobile-app") == "workspace:frank/mobile-app"
    page = client.get("/connectionlog", {"q": "result:ok workspace:dev"}).content.decode()
    assert re.search(r'<option value="ok" selected>', page)
    assert 'id="m-workspace" type="text" name="workspace" value="dev"' in page


def test_active_during_finds_the_session_that_overlaps_the_window(incident, client, api):  # noqa: F811
    day = incident.day.date().isoformat()
    window = {"from": f"{day}T09:00", "to": f"{day}T18:00"}
    q = _submit(client, "", during="active", range="custom", **window)
    assert q == f'active_after:"{day}T09:00:00Z" active_before:"{day}T18:00:59.999999Z"'
    shown = names_shown(incident, client.get("/connectionlog", {"q": q, "per_page": 100}))
    assert "ssh_0830" in shown  # 08:30–10:00: started before the window, still in it
    assert shown == found(incident, api, q)
    started = _submit(client, "", during="started", range="custom", **window)
    assert "ssh_0830" not in names_shown(incident, client.get("/connectionlog", {"q": started}))
    page = client.get("/connectionlog", {"q": q}).content.decode()
    assert 'name="during" value="active" checked' in page


def test_changing_the_reading_moves_the_window_to_the_other_keys(incident, client):  # noqa: F811
    q = 'connected_after:"2026-01-01T00:00:00Z" type:ssh'
    assert _submit(client, q, during="active") == 'type:ssh active_after:"2026-01-01T00:00:00Z"'
    back = _submit(client, 'active_after:"2026-01-01T00:00:00Z"', during="started")
    assert back == 'connected_after:"2026-01-01T00:00:00Z"'


@pytest.mark.parametrize("preset", presets.PRESETS, ids=lambda preset: preset.label)
def test_each_preset_is_one_click_and_answers_as_the_api(incident, client, api, preset):  # noqa: F811
    page = client.get("/connectionlog").content.decode()
    url = links.list_url(preset.q)
    assert f'href="{html.escape(url)}"' in page
    response = client.get(url)
    assert response.status_code == 200
    assert names_shown(incident, response) == found(incident, api, preset.q)
    assert re.search(
        rf'href="{re.escape(html.escape(url))}"[^>]*aria-current="true"', response.content.decode()
    )


def test_presets_find_what_a_responder_asks(incident, client):  # noqa: F811
    answers = {
        "Stale sessions": {"ssh_stale"},
        "Active SSH now": {"ssh_open"},
        "Sessions longer than 8 h": {"ssh_9h", "ssh_stale"},
        "Unauthenticated web requests": {"app_200"},
    }
    for preset in presets.PRESETS:
        if preset.label in answers:
            shown = names_shown(incident, client.get(links.list_url(preset.q)))
            assert shown == answers[preset.label], preset.label


def test_stale_sessions_look_different_from_live_ones(incident, client):  # noqa: F811
    page = client.get("/connectionlog", {"q": "status:ongoing"}).content.decode()
    stale = row_block(page, incident.rows["ssh_stale"])
    live = row_block(page, incident.rows["ssh_open"])
    assert "no disconnect received · 30 d" in stale and "is-stale" in stale
    assert "badge-live" not in stale and "ongoing ·" not in stale
    live_text = re.sub(r"<[^>]+>", "", live)  # the duration is its own span (it ticks)
    assert "ongoing · 10m" in live_text and "is-ongoing" in live and "no disconnect" not in live
    detail = client.get(f"/connectionlog/{incident.rows['ssh_stale'].id}").content.decode()
    assert "no disconnect received · 30 d" in detail and "still connected" not in detail


def test_the_list_shows_when_each_session_ended(incident, client):  # noqa: F811
    page = client.get("/connectionlog", {"per_page": 100}).content.decode()
    ended = row_block(page, incident.rows["ssh_0830"])
    assert re.search(
        r'<td class="c-end"><span class="end-label">ended </span>'
        r'<time datetime="[^"]*T10:00:00Z"[^>]*>10:00:00</time>',
        ended,
    )
    assert '<span class="live-end">ongoing</span>' in row_block(page, incident.rows["ssh_open"])
    web = row_block(page, incident.rows["app_404"])
    assert "A web request has no disconnect" in web
    overnight = ConnectionLogFactory(
        workspace=incident.rows["ssh_0830"].workspace,
        type="ssh",
        connect_time=incident.day.replace(hour=23),
        disconnect_time=incident.day.replace(hour=23) + dt.timedelta(hours=2),
    )
    page = client.get("/connectionlog", {"per_page": 100}).content.decode()
    ended = row_block(page, overnight)
    next_day = (incident.day + dt.timedelta(days=1)).strftime("%-d %b")
    assert f">{next_day} 01:00:00</time>" in ended  # another day: its date is shown


def test_values_are_escaped_and_values_that_cannot_be_written_are_not_links(incident, client):  # noqa: F811
    row = ConnectionLogFactory(
        workspace=incident.rows["ssh_0830"].workspace,
        workspace_name="mobile-app",
        agent_name='<b>x</b>"a,b',
        type="ssh",
    )
    page = client.get("/connectionlog", {"per_page": 100}).content.decode()
    block = row_block(page, row)
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;&quot;a,b" in block
    assert "agent" not in dict(FILTER_LINK.findall(block))
    safe = ConnectionLogFactory(
        workspace=incident.rows["ssh_0830"].workspace, agent_name="<i>", type="ssh"
    )
    block = row_block(client.get("/connectionlog", {"per_page": 100}).content.decode(), safe)
    agent_url = dict(FILTER_LINK.findall(block))["agent"]
    assert "<i>" not in agent_url and q_of(agent_url) == "agent:<i>"


def test_the_detail_page_links_within_the_saved_view_it_came_from(incident, client, api):  # noqa: F811
    """Opened from a view (``view=``), the detail page's links add to or leave out of that
    view's search, as the list's own links do, and the built-in view of unauthenticated
    requests is the list's quick link of that name."""
    row = incident.rows["ssh_0830"]
    came_from = "http://testserver/connectionlog?view=sessions-over-8h"
    page = client.get(f"/connectionlog/{row.id}", HTTP_REFERER=came_from).content.decode()
    added = {part: html.unescape(url) for part, url in FILTER_LINK.findall(page)}
    excluded = {part: html.unescape(url) for part, url in EXCLUDE_LINK.findall(page)}
    assert q_of(added["ip"]) == "duration:>8h ip:10.1.2.3"
    assert q_of(excluded["ip"]) == "duration:>8h -ip:10.1.2.3"
    unknown = "http://testserver/connectionlog?view=no-such-view"
    page = client.get(f"/connectionlog/{row.id}", HTTP_REFERER=unknown).content.decode()
    assert q_of(dict(FILTER_LINK.findall(page))["ip"]) == "ip:10.1.2.3"
    view = api.get("/api/v2/connectionlog", {"view": "unauthenticated-web"}).json()
    quick = api.get("/api/v2/connectionlog", {"q": "authenticated:no"}).json()
    assert view == quick and view["count"] > 0


def test_a_value_is_taken_out_of_a_list_that_says_the_opposite():
    assert links.ListLinks("-type:ssh,vscode").adding("type", "ssh") == (
        links.list_url("-type:vscode type:ssh")
    )
    assert links.ListLinks("type:ssh,vscode").leaving_out("type", "ssh") == (
        links.list_url("type:vscode -type:ssh")
    )
    assert links.ListLinks("-agent:a").leaving_out("agent", "Main") == (
        links.list_url("-agent:a,Main")
    )
    assert links.ListLinks("-agent:main").leaving_out("agent", "Main") == (
        links.list_url("-agent:main")
    )


def test_the_detail_page_links_within_a_users_saved_view(incident, client, site_owner):  # noqa: F811
    """A view saved by a user is opened by its id (``view=<uuid>``): the detail page's links
    add to its search; another user's personal view, which this reader cannot open, leaves
    them on the plain search (its ``q`` is not shown to them, not even through the links)."""
    row = incident.rows["ssh_0830"]
    own = SavedView.objects.create(name="long ssh", q="type:ssh duration:>1h", owner=site_owner)
    other = SavedView.objects.create(
        name="theirs", q="workspace:secret-project", owner=UserFactory(username="someone")
    )
    expected = {own: "type:ssh duration:>1h ip:10.1.2.3", other: "ip:10.1.2.3"}
    for view, q in expected.items():
        came_from = f"http://testserver/connectionlog?view={view.id}"
        page = client.get(f"/connectionlog/{row.id}", HTTP_REFERER=came_from).content.decode()
        assert q_of(dict(FILTER_LINK.findall(page))["ip"]) == q
        assert "secret-project" not in page
