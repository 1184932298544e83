"""Data protection mode: what a viewer who may not reveal identities sees, and searches."""

from __future__ import annotations

import ipaddress
import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connlogs.api.serializers import conceal_entry, connection_log_entries
from connlogs.models import ConnectionLog
from connlogs.privacy import pseudonyms
from connlogs.privacy.identities import Identities
from tests.conftest import as_user
from tests.exports import ndjson_entries
from tests.privacy.conftest import REAL

LIST = "/api/v2/connectionlog"
EXPORT = "/api/v2/connectionlog/export"
PSEUDONYM = re.compile(r"^user-[0-9a-f]{12}$")


def listed(user, q: str = "") -> list[dict]:
    response = as_user(user).get(LIST, {"q": q, "limit": 100})
    assert response.status_code == 200, response.content
    return response.json()["connection_logs"]


def by_type(entries: list[dict]) -> dict[str, dict]:
    return {entry["type"]: entry for entry in entries}


# --- what is shown -------------------------------------------------------------------------


def test_protected_rows_show_pseudonyms_with_the_contracts_keys_and_types(people, protected):
    entries = by_type(listed(people.auditor))
    ssh, app = entries["ssh"], entries["workspace_app"]
    assert PSEUDONYM.match(ssh["workspace_owner_username"])
    assert uuid.UUID(ssh["workspace_owner_id"]).version == 8
    assert ssh["workspace_owner_id"] != str(people.alice.id)
    address = ipaddress.ip_address(ssh["ip"])  # still an address, as Coder's clients parse it
    assert address in ipaddress.ip_network("2001:db8::/32")
    user = app["web_info"]["user"]
    assert PSEUDONYM.match(user["username"])
    assert user["email"] == f"{user['username']}@pseudonym.invalid"
    assert "name" not in user and "avatar_url" not in user
    assert user["created_at"] == user["last_seen_at"] == "0001-01-01T00:00:00Z"
    assert user["roles"] == [] and user["organization_ids"] == []
    assert user["status"] == "active" and user["login_type"] == people.bob.login_type
    # Keys exactly as with the mode off (the user object loses only what is empty).
    clear = by_type(listed(people.owner))
    assert set(ssh) == set(clear["ssh"])
    assert set(app["web_info"]) == set(clear["workspace_app"]["web_info"])


def test_the_same_person_has_the_same_pseudonym_everywhere(people, protected):
    entries = by_type(listed(people.auditor))
    owner_name = entries["ssh"]["workspace_owner_username"]
    assert entries["workspace_app"]["workspace_owner_username"] == owner_name  # both alice's
    export = ndjson_entries(b"".join(as_user(people.auditor).get(EXPORT, {"format": "ndjson"})))
    assert {entry["workspace_owner_username"] for entry in export} == {owner_name}
    assert by_type(export) == entries  # the export says exactly what the list says


def test_no_real_identity_in_any_answer_of_a_viewer_who_may_not_see_them(people, protected):
    api = as_user(people.auditor)
    page = Client()
    page.force_login(people.auditor)
    row = people.rows[1]
    answers = [
        api.get(LIST).content,
        b"".join(api.get(EXPORT, {"format": "csv"}).streaming_content),
        b"".join(api.get(EXPORT, {"format": "ndjson"}).streaming_content),
        page.get("/connectionlog").content,
        page.get(f"/connectionlog/{row.id}").content,
        page.get(f"/connectionlog/{people.rows[0].id}").content,
        b"".join(page.get("/connectionlog/export", {"format": "csv"}).streaming_content),
    ]
    for answer in answers:
        assert not [real for real in REAL if real in answer], answer[:300]
    assert b"user-" in answers[3] and b"2001:db8:" in answers[3]
    assert b'data-testid="pseudonyms"' in answers[3]


def test_identity_viewers_and_owners_see_real_identities_and_it_is_a_reveal(people, protected):
    for reader in (people.viewer, people.owner):
        entries = by_type(listed(reader))
        assert entries["ssh"]["workspace_owner_username"] == "alice-owner"
        assert entries["ssh"]["ip"] == "203.0.113.10"
    listed(people.auditor)
    revealing = {entry.username for entry in _entries(revealed=True)}
    assert revealing == {people.viewer.username, people.owner.username}


def test_owners_may_be_kept_from_real_identities(people, protected, settings):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    entries = by_type(listed(people.owner))
    assert PSEUDONYM.match(entries["ssh"]["workspace_owner_username"])
    assert entries["ssh"]["ip"].startswith("2001:db8:")


def test_the_mode_off_shows_real_identities_to_every_reader(people):
    entries = by_type(listed(people.auditor))
    assert entries["ssh"]["workspace_owner_username"] == "alice-owner"
    assert not _entries(revealed=True)


def test_per_organization_mode_conceals_only_protected_organizations(people, settings):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    entries = {entry["organization"]["name"]: entry for entry in listed(people.both_auditor)}
    assert PSEUDONYM.match(entries["acme"]["workspace_owner_username"])
    assert entries["globex"]["workspace_owner_username"] == "gus-globex"


def _entries(**filters):
    from connlogs.models import AccessLogEntry

    return list(AccessLogEntry.objects.filter(**filters))


# --- searching by pseudonym ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "real"),
    [
        ("workspace_owner", "alice-owner"),
        ("workspace_owner_email", "alice@corp.example"),
        ("username", "bob-user"),
        ("user_email", "bob@corp.example"),
    ],
)
def test_a_pseudonym_typed_in_q_matches_the_rows_its_real_value_does(people, protected, key, real):
    shown = by_type(listed(people.auditor))
    owner = shown["ssh"]["workspace_owner_username"]
    user = shown["workspace_app"]["web_info"]["user"]
    pseudonym = {
        "workspace_owner": owner,
        "workspace_owner_email": f"{owner}@pseudonym.invalid",
        "username": user["username"],
        "user_email": user["email"],
    }[key]
    expected = {entry["id"] for entry in listed(people.owner, f"{key}:{real}")}
    assert expected  # the case is not vacuous
    assert {entry["id"] for entry in listed(people.auditor, f"{key}:{pseudonym}")} == expected
    # The identity viewer may type either.
    assert {entry["id"] for entry in listed(people.viewer, f"{key}:{pseudonym}")} == expected
    assert {entry["id"] for entry in listed(people.viewer, f"{key}:{real}")} == expected
    # A real value typed by a viewer who may not see it matches nothing.
    assert listed(people.auditor, f"{key}:{real}") == []


def test_a_pseudonym_typed_on_the_page_finds_its_rows(people, protected):
    page = Client()
    page.force_login(people.auditor)
    first = page.get("/connectionlog").content.decode()
    hints = first[first.index('<datalist id="owner-hints">') :]
    owner = re.search(r'<option value="(user-[0-9a-f]{12})">', hints).group(1)
    found = page.get("/connectionlog", {"q": f"workspace_owner:{owner}"})
    assert found.status_code == 200 and len(found.context["page"].rows) == 2


def test_an_unshown_pseudonym_and_a_real_name_cost_the_same_queries(people, protected):
    """A real name typed by a viewer who may not see it runs exactly the queries of a
    made-up one (only the literal values differ): no error, no shortcut, no timing tell."""
    listed(people.auditor)  # the pseudonyms are indexed

    def shapes(q: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = as_user(people.auditor).get(LIST, {"q": q})
        assert response.status_code == 200 and response.json()["connection_logs"] == []
        return [
            re.sub(r"'[^']*'|\b[0-9a-f]{32}\b|\b\d+\b", "?", query["sql"])
            for query in captured.captured_queries
        ]

    assert shapes("workspace_owner:alice-owner") == shapes("workspace_owner:nobody-at-all")
    assert shapes("user_email:bob@corp.example") == shapes("user_email:x@nowhere.example")
    assert shapes("workspace_owner:user-000000000000") == shapes("workspace_owner:alice-owner")


def test_in_per_organization_mode_a_real_name_matches_only_where_it_is_shown(people, settings):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    globex_row = people.rows[2]
    assert [e["id"] for e in listed(people.both_auditor, "workspace_owner:gus-globex")] == [
        str(globex_row.id)
    ]
    assert listed(people.both_auditor, "workspace_owner:alice-owner") == []


@pytest.mark.parametrize("door", ["api", "page", "export"])
def test_in_per_organization_mode_a_pseudonym_matches_only_where_it_is_shown(
    people, settings, door
):
    """A person (and an address) with rows in a protected and an unprotected organization:
    their pseudonym must not also find the rows that show them in clear, or the answer
    would pair the pseudonym with the real name."""
    from tests.factories import ConnectionLogFactory, WorkspaceFactory

    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    mirror = WorkspaceFactory(organization=people.globex, owner=people.alice, name="side")
    ConnectionLogFactory(workspace=mirror, type="ssh", ip="203.0.113.10")
    shown = by_type(listed(people.both_auditor))
    acme_rows = {e["id"] for e in listed(people.both_auditor, "organization:acme")}
    owner, address = shown["ssh"]["workspace_owner_username"], None
    for entry in listed(people.both_auditor, "organization:acme"):
        if entry["type"] == "ssh":
            owner, address = entry["workspace_owner_username"], entry["ip"]
    assert PSEUDONYM.match(owner) and address.startswith("2001:db8:")

    def found(q: str) -> bytes:
        if door == "api":
            return as_user(people.both_auditor).get(LIST, {"q": q, "limit": 100}).content
        page = Client()
        page.force_login(people.both_auditor)
        if door == "page":  # the rows found (the owner hints list every owner as shown)
            html = page.get("/connectionlog", {"q": q}).content
            return html[html.index(b"<table") : html.index(b"</table>")]
        return b"".join(page.get("/connectionlog/export", {"q": q}).streaming_content)

    for q in (f"workspace_owner:{owner}", f'ip:"{address}"', owner):
        body = found(q)
        assert b"alice-owner" not in body and b"203.0.113.10" not in body, q
    ids = {e["id"] for e in listed(people.both_auditor, f"workspace_owner:{owner}")}
    assert ids and ids <= acme_rows
    ids = {e["id"] for e in listed(people.both_auditor, f'ip:"{address}"')}
    assert ids and ids <= acme_rows
    # The real name finds only the rows that show it: the globex one.
    real = listed(people.both_auditor, "workspace_owner:alice-owner")
    assert [e["workspace_owner_username"] for e in real] == ["alice-owner"]
    assert not {e["id"] for e in real} & acme_rows


def test_rotating_the_key_changes_every_pseudonym_and_voids_the_old(people, protected):
    from django.core.management import call_command

    before = by_type(listed(people.auditor))["ssh"]["workspace_owner_username"]
    call_command("rotate_pseudonym_key", "--yes", stdout=open("/dev/null", "w"))
    after = by_type(listed(people.auditor))["ssh"]["workspace_owner_username"]
    assert after != before and PSEUDONYM.match(after)
    assert listed(people.auditor, f"workspace_owner:{before}") == []
    assert len(listed(people.auditor, f"workspace_owner:{after}")) == 2


# --- doors without a viewer: the change feed's consumers, outbound streams ----------------


def test_a_stream_conceals_contract_json_as_a_viewer_is_shown_it(people, protected):
    rows = list(ConnectionLog.objects.newest_first().with_related())
    clear = connection_log_entries(rows, None, Identities.for_stream(pseudonymise=False))
    assert {e["workspace_owner_username"] for e in clear} >= {"alice-owner"}
    stream = Identities.for_stream()
    concealed = [conceal_entry(entry, stream) for entry in clear]
    shown = {entry["id"]: entry for entry in listed(people.both_auditor)}
    # What a site auditor is shown (a concealed user lists no organizations either way).
    assert concealed == [shown[entry["id"]] for entry in concealed]
    assert not [real for real in REAL if real in repr(concealed).encode()]
    assert [conceal_entry(e, Identities.for_stream(pseudonymise=False)) for e in clear] == clear


def test_rows_shaped_for_a_stream_are_concealed_too(people, protected):
    rows = list(ConnectionLog.objects.newest_first().with_related())
    entries = connection_log_entries(rows, None, Identities.for_stream())
    assert not [real for real in REAL if real in repr(entries).encode()]


def test_an_export_hashes_each_person_and_address_once(people, protected, monkeypatch):
    from tests.factories import ConnectionLogFactory

    for index in range(300):
        ConnectionLogFactory(workspace=people.rows[0].workspace, ip=f"203.0.113.{index % 7}")
    pseudonyms._user_pseudonym.cache_clear()
    pseudonyms._ip_pseudonym.cache_clear()
    calls = []
    real_digest = pseudonyms._digest
    monkeypatch.setattr(
        pseudonyms, "_digest", lambda *args: calls.append(args[1:]) or real_digest(*args)
    )
    body = b"".join(as_user(people.auditor).get(EXPORT, {"format": "ndjson"}).streaming_content)
    assert len(ndjson_entries(body)) == 302
    # alice and bob, and 7 + 2 addresses: one HMAC each, not one per row.
    assert len(calls) == len(set(calls)) <= 11
