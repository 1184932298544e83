"""Text that lies when displayed: invisible and reordering characters are shown as code points.

A right-to-left override turns "session closed by \u202enimda\u202c ok" into "session closed by
admin ok" on screen. Every page shows such characters as ``⟨U+202E⟩``, in text and in
tooltips; the API and the exports keep the value as recorded.
"""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest
from django.urls import reverse

from connlogs import roles
from connlogs.visible import visible_text
from tests.factories import ConnectionLogFactory, OrganizationFactory, UserFactory, WorkspaceFactory
from tests.web.conftest import signed_in

REASON = "session closed by \u202enimda\u202c ok"


def hidden_characters(text: str) -> set[str]:
    """Characters of ``text`` a browser would not draw as themselves."""
    return {
        char
        for char in text
        if char not in "\t\n\r"
        and unicodedata.category(char) in ("Cc", "Cf", "Cs", "Cn", "Zl", "Zp")
    }


@pytest.mark.parametrize(
    "char",
    [
        "\u202e",  # right-to-left override (the example)
        "\u202a",
        "\u2066",  # isolates
        "\u2069",
        "\u200b",  # zero-width space
        "\u200f",  # right-to-left mark
        "\ufeff",  # byte-order mark
        "\u00ad",  # soft hyphen
        "\u061c",  # Arabic letter mark
        "\u180e",  # Mongolian vowel separator
        "\u2060",  # word joiner
        "\u2064",
        "\U000e0041",  # a tag character: Cf, named by no range of the issue
        "\u0600",  # Arabic number sign: Cf too
        "\x00",
        "\x1b",  # escape (C0)
        "\r",
        "\x7f",
        "\x85",  # next line (C1)
        "\x9b",
        "\u2028",  # line separator
    ],
)
def test_each_hidden_character_is_written_as_its_code_point(char):
    shown = visible_text(f"a{char}b")
    assert shown == f"a⟨U+{ord(char):04X}⟩b"
    assert not hidden_characters(shown)


def test_ordinary_text_is_unchanged():
    for text in ("tab\tand\nnewline", "café naïve", "日本語", "emoji 😀", "a b", "", "x" * 500):
        assert visible_text(text) == text
    assert visible_text(None) == ""
    assert visible_text(404) == "404"


@pytest.fixture
def liar(db):
    organization = OrganizationFactory(name="acme", display_name="Ac\u200bme")
    owner = UserFactory(username="root", site_roles=[roles.OWNER])
    workspace = WorkspaceFactory(organization=organization, name="dev")
    ssh = ConnectionLogFactory(
        workspace=workspace,
        workspace_name="dev\u2066x\u2069",
        agent_name="main\u200e",
        type="ssh",
        code=1,
        disconnect_reason=REASON,
    )
    web = ConnectionLogFactory(
        workspace=workspace,
        type="workspace_app",
        code=200,
        slug_or_port="code\u00adserver",
        user_agent="Mozilla/5.0\ufeff (\x1b[31mX11)",
        user=UserFactory(username="eve\u202e"),
    )
    OrganizationFactory(name="globex")  # two organizations: the list names each row's
    return owner, ssh, web


def test_list_page_shows_hidden_characters_in_text_and_tooltips(liar):
    owner, ssh, web = liar
    html = signed_in(owner).get("/connectionlog").content.decode()
    assert not hidden_characters(html)
    reason = "session closed by ⟨U+202E⟩nimda⟨U+202C⟩ ok"
    assert f'<span title="{reason}">{reason}</span>' in html
    assert "dev⟨U+2066⟩x⟨U+2069⟩" in html
    assert "main⟨U+200E⟩" in html
    assert "code⟨U+00AD⟩server" in html
    assert "eve⟨U+202E⟩" in html
    assert "Ac⟨U+200B⟩me" in html


def test_detail_pages_show_hidden_characters(liar):
    owner, ssh, web = liar
    client = signed_in(owner)
    for row in (ssh, web):
        html = client.get(reverse("connectionlog-detail", args=[row.id])).content.decode()
        assert not hidden_characters(html), row.type
    html = client.get(reverse("connectionlog-detail", args=[ssh.id])).content.decode()
    assert "session closed by ⟨U+202E⟩nimda⟨U+202C⟩ ok" in html
    assert "<title>SSH · root/dev⟨U+2066⟩x⟨U+2069⟩" in html or "dev⟨U+2066⟩x⟨U+2069⟩" in html
    html = client.get(reverse("connectionlog-detail", args=[web.id])).content.decode()
    assert "Mozilla/5.0⟨U+FEFF⟩ (⟨U+001B⟩[31mX11)" in html


def test_admin_shows_hidden_characters(liar):
    owner, ssh, web = liar
    client = signed_in(owner)
    html = client.get(reverse("admin:connlogs_connectionlog_changelist")).content.decode()
    assert not hidden_characters(html)
    assert "dev⟨U+2066⟩x⟨U+2069⟩" in html
    for row in (ssh, web):
        page = client.get(reverse("admin:connlogs_connectionlog_change", args=[row.id]))
        assert not hidden_characters(page.content.decode())
    page = client.get(reverse("admin:connlogs_connectionlog_change", args=[ssh.id]))
    assert "session closed by ⟨U+202E⟩nimda⟨U+202C⟩ ok" in page.content.decode()


def test_api_and_exports_keep_the_raw_value(liar):
    owner, ssh, web = liar
    client = signed_in(owner)
    entries = client.get("/api/v2/connectionlog").json()["connection_logs"]
    reasons = {entry.get("ssh_info", {}).get("disconnect_reason") for entry in entries}
    assert REASON in reasons
    response = client.get("/api/v2/connectionlog/export", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert REASON in {row["disconnect_reason"] for row in rows}


def test_a_search_error_shows_the_hidden_characters_it_quotes(liar):
    owner, _, _ = liar
    response = signed_in(owner).get("/connectionlog", {"q": "type:ss\u202eh"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "&quot;ss⟨U+202E⟩h&quot; is not a valid value" in html
    # The search box keeps what was typed, so the search can be edited.
    assert 'value="type:ss\u202eh"' in html
