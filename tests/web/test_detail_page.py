"""The detail page of one log: every field, the parsed user agent, "show only this" links."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from connlogs.values import format_time
from tests.factories import ConnectionLogFactory, auth_header
from tests.web.conftest import row_ids, signed_in


def only_links(html: str) -> dict[str, str]:
    """The q of each "show only this" link, by the field label it sits in."""
    found = {}
    for label, value in re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", html, re.S):
        href = re.search(r'<a class="only" href="([^"]+)"', value)
        if href:
            found[label] = parse_qs(urlsplit(html_lib.unescape(href.group(1))).query)["q"][0]
    return found


def test_agent_session_shows_every_field(world):
    row = world.acme_rows[0]  # closed SSH session, exit 0
    response = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        str(row.id),
        str(row.connection_id),
        str(row.workspace_id),
        "10.1.2.3",
        "alice",
        "dev",
        "main",
        "Acme",
        "client disconnected",
        "exit 0",
        "12m",
        format_time(row.connect_time),
        format_time(row.disconnect_time),
    ):
        assert text in html, text
    assert "Reported by the workspace agent" in html


def test_web_request_shows_status_app_and_parsed_user_agent(world):
    row = world.acme_rows[2]  # unauthenticated app request from Chrome on Linux
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    assert "404 Not Found" in html
    assert "code-server" in html
    assert "unauthenticated" in html
    assert re.search(r'data-testid="ua-browser">Chrome 120[.0]*<', html)
    assert "Linux" in html
    assert "Desktop" in html


def test_ongoing_session_says_so(world):
    row = world.acme_rows[1]
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    assert "still connected" in html
    assert "ongoing · 40m" in html


def test_show_only_links_open_the_list_filtered_to_the_same_thing(world):
    client = signed_in(world.people["owner"])
    tunnel = world.globex_rows[1]  # by alice, in bob's globex workspace
    links = only_links(client.get(f"/connectionlog/{tunnel.id}").content.decode())
    assert links == {
        "Type": "type:tunnel",
        "Organization": "organization:globex",
        "Owner": "workspace_owner:bob",
        "Workspace": f"workspace_id:{tunnel.workspace_id}",
        "User": "username:alice",
    }
    for q in links.values():
        response = client.get("/connectionlog", {"q": q})
        assert response.status_code == 200
        assert str(tunnel.id) in row_ids(response)

    ssh = world.acme_rows[0]
    links = only_links(client.get(f"/connectionlog/{ssh.id}").content.decode())
    assert links["Connection id"] == f"connection_id:{ssh.connection_id}"
    assert row_ids(client.get("/connectionlog", {"q": links["Connection id"]})) == [str(ssh.id)]


@pytest.mark.parametrize("ended", [True, False], ids=["ended", "ongoing"])
def test_nearby_link_is_the_workspace_around_the_whole_session(world, ended):
    """From 30 minutes before the connection to 30 minutes after it ended (after it
    started, while it goes on)."""
    row = world.acme_rows[1]
    row.disconnect_time = row.connect_time + dt.timedelta(hours=2) if ended else None
    row.save()
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    href = html_lib.unescape(re.search(r'<a href="([^"]+)">This workspace, from 30', html)[1])
    q = parse_qs(urlsplit(href).query)["q"][0]
    end = row.disconnect_time or row.connect_time
    assert q == (
        f"workspace_id:{row.workspace_id} "
        f'connected_after:"{format_time(row.connect_time - dt.timedelta(minutes=30))}" '
        f'connected_before:"{format_time(end + dt.timedelta(minutes=30))}"'
    )


def test_api_json_is_shown_as_the_api_returns_it(world):
    row = world.globex_rows[1]
    owner = world.people["owner"]
    response = signed_in(owner).get(f"/connectionlog/{row.id}")
    api = APIClient()
    api.credentials(**auth_header(owner))
    listed = api.get("/api/v2/connectionlog").json()["connection_logs"]
    [entry] = [entry for entry in listed if entry["id"] == str(row.id)]
    assert json.loads(response.context["api_json"]) == entry


def test_unknown_or_malformed_ids_are_404(world):
    client = signed_in(world.people["owner"])
    assert client.get("/connectionlog/5b1d0a62-3c0e-4c50-9d87-4d3cf2f0a111").status_code == 404
    assert client.get("/connectionlog/not-a-uuid").status_code == 404


def test_another_orgs_log_is_404_not_403(world):
    client = signed_in(world.people["acme_auditor"])
    assert client.get(f"/connectionlog/{world.globex_rows[0].id}").status_code == 404


def test_back_link_returns_to_the_list_the_user_came_from(world):
    client = signed_in(world.people["owner"])
    row = world.acme_rows[0]
    response = client.get(
        f"/connectionlog/{row.id}",
        HTTP_REFERER="http://testserver/connectionlog?q=type%3Assh&page=2",
    )
    assert response.context["back_url"] == "/connectionlog?q=type%3Assh&page=2"
    response = client.get(f"/connectionlog/{row.id}", HTTP_REFERER="https://evil.example/x")
    assert response.context["back_url"] == "/connectionlog"


def test_deleted_or_renamed_workspace_is_noted(world):
    world.acme_ws.name = "renamed"
    world.acme_ws.save()
    row = world.acme_rows[0]
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    assert "now named renamed" in html
    world.acme_ws.soft_delete()
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    assert '<span class="tag">deleted</span>' in html


def test_web_row_without_user_agent(world):
    row = ConnectionLogFactory(workspace=world.acme_ws, type="port_forwarding", slug_or_port="8080")
    html = signed_in(world.people["owner"]).get(f"/connectionlog/{row.id}").content.decode()
    assert "not sent" in html
    assert "200 OK" in html  # the contract's status for a web row recorded without one
