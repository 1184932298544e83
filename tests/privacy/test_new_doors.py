"""Data protection mode on the doors and search keys that came with the incident search
language, the change feed and saved views: the feed shows pseudonyms and is on record, a saved
view searches as the list does, and ``workspace:owner/name``, free text and ``ip`` take
pseudonyms (not real values) from a reader shown pseudonyms."""

from __future__ import annotations

import pytest
from django.test import Client

from connlogs import feed
from connlogs.models import AccessLogEntry
from connlogs.savedviews.models import SavedView, Sharing
from tests.conftest import as_user
from tests.privacy.conftest import REAL
from tests.privacy.test_pseudonyms import PSEUDONYM, by_type, listed

CHANGES = "/api/v2/connectionlog/changes"


@pytest.fixture
def fed(people):
    """The world's rows in the change feed, as ingest would have written them."""
    feed.record("default", created=[row.id for row in people.rows], updated=[])
    return people


def changes(user, **params) -> tuple[bytes, list[dict]]:
    response = as_user(user).get(CHANGES, {"after": "0", **params})
    assert response.status_code == 200, response.content
    return response.content, [change["connection_log"] for change in response.json()["changes"]]


def ids(entries: list[dict]) -> set[str]:
    return {entry["id"] for entry in entries}


def feed_entries() -> list[AccessLogEntry]:
    return list(AccessLogEntry.objects.filter(door=AccessLogEntry.Door.FEED).order_by("id"))


# --- the change feed -----------------------------------------------------------------------


def test_the_change_feed_shows_pseudonyms_as_the_list_does(fed, protected):
    body, shown = changes(fed.auditor)
    assert len(shown) == 2 and not [real for real in REAL if real in body]
    assert by_type(shown) == by_type(listed(fed.auditor))
    _, revealed = changes(fed.viewer)
    assert by_type(revealed)["ssh"]["workspace_owner_username"] == "alice-owner"


def test_a_change_feed_read_is_on_record_and_an_empty_poll_is_not(fed, protected):
    changes(fed.auditor, q="type:ssh")
    [entry] = feed_entries()
    assert (entry.username, entry.q, entry.rows, entry.revealed) == (
        "acme-auditor",
        "type:ssh",
        1,
        False,
    )
    assert entry.organizations == str(fed.acme.id)
    changes(fed.viewer)
    assert feed_entries()[-1].revealed is True
    _, none = changes(fed.auditor, q="type:vscode")
    assert none == [] and len(feed_entries()) == 2


def test_the_following_page_shows_pseudonyms_and_is_on_record(fed, protected):
    page = Client()
    page.force_login(fed.auditor)
    response = page.get("/connectionlog/changes", {"after": "0"})
    assert response.status_code == 200 and len(response.json()["rows"]) == 2
    assert not [real for real in REAL if real in response.content]
    [entry] = feed_entries()
    assert (entry.username, entry.rows) == ("acme-auditor", 2)


def test_a_real_name_in_the_feeds_q_matches_nothing_a_pseudonym_its_rows(fed, protected):
    owner = by_type(listed(fed.auditor))["ssh"]["workspace_owner_username"]
    assert changes(fed.auditor, q="workspace_owner:alice-owner")[1] == []
    assert len(changes(fed.auditor, q=f"workspace_owner:{owner}")[1]) == 2


# --- saved views ---------------------------------------------------------------------------


def shared_view(people, q: str) -> str:
    view = SavedView.objects.create(
        name="shared",
        q=q,
        sharing=Sharing.ORGANIZATION,
        organization=people.acme,
        owner=people.owner,
    )
    return str(view.id)


def test_a_saved_view_searches_as_the_list_does_for_each_reader(people, protected):
    by_name = shared_view(people, "workspace_owner:alice-owner")
    response = as_user(people.auditor).get("/api/v2/connectionlog", {"view": by_name})
    assert response.status_code == 200 and response.json()["connection_logs"] == []
    revealed = as_user(people.viewer).get("/api/v2/connectionlog", {"view": by_name}).json()
    assert len(revealed["connection_logs"]) == 2

    owner = by_type(listed(people.auditor))["ssh"]["workspace_owner_username"]
    by_pseudonym = shared_view(people, f"workspace_owner:{owner}")
    found = as_user(people.auditor).get("/api/v2/connectionlog", {"view": by_pseudonym})
    assert len(found.json()["connection_logs"]) == 2
    assert not [real for real in REAL if real in found.content]


# --- the incident search language's keys ---------------------------------------------------


@pytest.mark.parametrize(
    ("real", "shown"),
    [
        (
            "workspace:alice-owner/dev",
            lambda s: f"workspace:{s['ssh']['workspace_owner_username']}/dev",
        ),
        ("alice", lambda s: s["ssh"]["workspace_owner_username"]),  # free text: usernames
        ("bob-user", lambda s: s["workspace_app"]["web_info"]["user"]["username"]),
        ("203.0.113", None),  # free text and the address: by pseudonym, ip: finds it
        ("ip:203.0.113.10", lambda s: f'ip:"{s["ssh"]["ip"]}"'),
        ("ip:203.0.113.0/24", None),
    ],
)
def test_new_keys_take_pseudonyms_not_real_values_from_a_reader_shown_pseudonyms(
    people, protected, real, shown
):
    expected = ids(listed(people.viewer, real))
    assert expected  # the identity viewer finds rows by the real value
    assert listed(people.auditor, real) == []
    if shown is not None:
        assert ids(listed(people.auditor, shown(by_type(listed(people.auditor))))) == expected


def test_new_keys_match_real_values_where_they_are_shown(people, settings):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    globex_row = str(people.rows[2].id)
    for q in ("gus", "workspace:gus-globex/api", "203.0.113.12", "ip:203.0.113.0/24"):
        assert ids(listed(people.both_auditor, q)) == {globex_row}, q
    for q in ("alice", "workspace:alice-owner/dev", "203.0.113.10"):
        assert listed(people.both_auditor, q) == [], q


def test_a_shared_views_owner_is_shown_as_their_pseudonym_to_a_reader_shown_pseudonyms(
    people, protected
):
    view_id = shared_view(people, "type:ssh")
    views = "/api/v2/connectionlog/views"

    def owner_seen_by(user) -> dict:
        return as_user(user).get(f"{views}/{view_id}").json()["owner"]

    seen = owner_seen_by(people.auditor)
    assert PSEUDONYM.match(seen["username"]) and seen["id"] != str(people.owner.id)
    listing = as_user(people.auditor).get(views).content
    assert b'"root"' not in listing and str(people.owner.id).encode() not in listing
    assert owner_seen_by(people.viewer) == {"id": str(people.owner.id), "username": "root"}
    assert owner_seen_by(people.owner)["username"] == "root"  # their own view


def test_a_view_shared_with_everyone_names_its_owner_only_to_who_may_name_them(people, settings):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    view = SavedView.objects.create(name="all", q="", sharing=Sharing.EVERYONE, owner=people.alice)
    url = f"/api/v2/connectionlog/views/{view.id}"
    # alice is a member of protected acme only: her connections show her pseudonym.
    for reader in (people.auditor, people.both_auditor):
        shown = as_user(reader).get(url).json()["owner"]
        assert PSEUDONYM.match(shown["username"]), reader
        listing = as_user(reader).get("/api/v2/connectionlog/views").content
        assert b"alice-owner" not in listing and str(people.alice.id).encode() not in listing
    assert as_user(people.viewer).get(url).json()["owner"]["username"] == "alice-owner"


def test_naming_a_new_owner_pairs_no_real_name_with_a_pseudonym(people, protected):
    from connlogs import roles
    from tests.factories import MembershipFactory, member

    admin = member(people.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    # They also read globex's log, where gus is shown as a pseudonym.
    MembershipFactory(user=admin, organization=people.globex, roles=[roles.ORGANIZATION_AUDITOR])
    view_id = shared_view(people, "type:ssh")
    url = f"/api/v2/connectionlog/views/{view_id}"
    # Her admin may name alice: the answer names her, never by her pseudonym.
    named = as_user(admin).patch(url, {"owner": "alice-owner"}, format="json")
    assert named.status_code == 200 and named.json()["owner"]["username"] == "alice-owner"
    # gus (globex: read, not administered) answers as a made-up name, as the directory does.
    gus = as_user(admin).patch(url, {"owner": "gus-globex"}, format="json")
    nobody = as_user(admin).patch(url, {"owner": "zed-nobody-x"}, format="json")
    assert gus.status_code == nobody.status_code == 400
    assert gus.json()["validations"] == nobody.json()["validations"]
