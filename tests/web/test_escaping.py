"""Text from agents and browsers is shown as text everywhere: list, chart, detail, header."""

from __future__ import annotations

import pytest

from connlogs import roles
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)
from tests.web.conftest import signed_in

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def hostile(db):
    organization = OrganizationFactory(name="evil", display_name=SCRIPT)
    workspace = WorkspaceFactory(organization=organization, name="dev")
    web = ConnectionLogFactory(
        workspace=workspace,
        type="workspace_app",
        user_agent=SCRIPT,
        slug_or_port=ATTRIBUTE,
        agent_name=SCRIPT,
        workspace_name=ATTRIBUTE,
    )
    agent = ConnectionLogFactory(
        workspace=workspace,
        type="ssh",
        agent_name=ATTRIBUTE,
        disconnect_reason=SCRIPT,
        code=1,
    )
    reader = member(organization, roles.ORGANIZATION_AUDITOR, username="reader")
    owner = UserFactory(site_roles=[roles.OWNER])
    OrganizationFactory(name="other")  # an organization menu for the owner
    return {"web": web, "agent": agent, "reader": reader, "owner": owner}


def assert_inert(html: str) -> None:
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "onerror=alert(2)>" not in html


@pytest.mark.parametrize("who", ["reader", "owner"])
def test_list_page_escapes_agent_and_browser_text(hostile, who):
    html = signed_in(hostile[who]).get("/connectionlog").content.decode()
    assert_inert(html)
    assert ESCAPED in html  # the reason (and the organization) shown as text


def test_list_page_escapes_the_q_box_and_its_errors(hostile):
    client = signed_in(hostile["reader"])
    # An unknown key: its error repeats the text (free words are a search, not an error).
    response = client.get("/connectionlog", {"q": f'{SCRIPT}:x workspace_owner:"{ATTRIBUTE}"'})
    assert response.status_code == 400
    assert_inert(response.content.decode())


def test_detail_pages_escape_everything(hostile):
    client = signed_in(hostile["reader"])
    for row in (hostile["web"], hostile["agent"]):
        html = client.get(f"/connectionlog/{row.id}").content.decode()
        assert_inert(html)
    html = client.get(f"/connectionlog/{hostile['web'].id}").content.decode()
    assert f'data-testid="user-agent">{ESCAPED}</code>' in html


def test_chart_text_is_escaped(hostile):
    html = signed_in(hostile["reader"]).get("/connectionlog").content.decode()
    svg = html[
        html.index('<svg class="chart"') : html.index("</svg>", html.index('<svg class="chart"'))
    ]
    assert "<script" not in svg and "<img" not in svg


def test_header_escapes_organization_names(hostile):
    html = signed_in(hostile["reader"]).get("/connectionlog").content.decode()
    assert f"Organization Auditor · {ESCAPED}" in html


def test_q_written_into_links_is_url_encoded(hostile):
    client = signed_in(hostile["owner"])
    html = client.get("/connectionlog", {"q": 'workspace_owner:"a&b<c"'}).content.decode()
    assert_inert(html)
    assert "a&b<c" not in html
