"""Searches someone wrote, shown to a reader who sees pseudonyms: the access log's entries
(page, API, both exports, the admin), saved views and streams never show a real identity,
for every form of ``q`` the search language takes (lists, negations, quoting, owner/name,
free text, emails, addresses and ranges, mixed case)."""

from __future__ import annotations

import itertools
import re

import pytest
from django.test import Client

from connlogs.accesslog import chain
from connlogs.alerts.models import AlertRule, Channel, RuleKind
from connlogs.models import AccessLogEntry
from connlogs.savedviews.models import SavedView, Sharing
from connlogs.streams.models import Stream, StreamKind
from tests.conftest import as_user
from tests.factories import member
from tests.privacy.conftest import REAL

LIST = "/api/v2/connectionlog"
# Every real identity of the world, and the parts of them a search may hold.
SECRETS = (
    *REAL,
    b"alice",
    b"liddell",
    b"bob-u",
    b"corp.example",
    b"203.0.113",
    b"gus-globex",
    b"gus@",
)

PERSON_VALUES = {
    "workspace_owner": ("alice-owner", "Alice-Owner", "alice-owner,bob-user", '"alice-owner"'),
    "username": ("bob-user", "BOB-USER,gus-globex", "bob-user,nobody-here"),
    "workspace_owner_email": ("alice@corp.example", "ALICE@corp.example,bob@corp.example"),
    "user_email": ("bob@corp.example", '"Bob@Corp.Example"'),
}
OTHER_FORMS = (
    "workspace:alice-owner/dev",
    "workspace:Alice-Owner/dev,dev",
    "-workspace:alice-owner/dev type:ssh",
    "alice-owner",
    "Alice",
    "type:ssh alice bob",
    "alice,bob-user dev",
    "liddell",
    "xalice-ownerx",
    "alice@corp.example",
    "203.0.113.10",
    "203.0.113",
    '"alice owner"',
    "-search:alice-owner",
    "ip:203.0.113.10",
    "ip:203.0.113.0/24",
    "ip:203.0.113.10,203.0.113.11",
    "-ip:203.0.113.11",
    'ip:"::ffff:203.0.113.10"',
    "IP:203.0.113.12 type:ssh",
    "workspace_owner:me username:bob-user",
)


def queries() -> list[str]:
    people = [
        f"{negation}{key}:{value}"
        for key, values in PERSON_VALUES.items()
        for value in values
        for negation in ("", "-")
    ]
    mixed = [f"{a} {b}" for a, b in itertools.pairwise(people[::3])]
    return [*people, *mixed, *OTHER_FORMS]


def leaks(body: bytes) -> list[bytes]:
    # The search boxes' examples (``user:alice``) name no one.
    body = re.sub(rb'placeholder="[^"]*"', b"", body.lower())
    return [secret for secret in SECRETS if secret in body]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def everything_shown(user) -> list[bytes]:
    """Every byte of the access log ``user`` is shown: API, page, both exports, the admin."""
    api, page = as_user(user), signed_in(user)
    answers = [
        api.get("/api/v2/accesslog", {"limit": 1000}).content,
        b"".join(api.get("/api/v2/accesslog/export", {"format": "csv"}).streaming_content),
        b"".join(api.get("/api/v2/accesslog/export", {"format": "ndjson"}).streaming_content),
        b"".join(page.get("/accesslog/export", {"format": "csv"}).streaming_content),
    ]
    for number in range(1, 6):
        answers.append(page.get("/accesslog", {"page": number}).content)
    if user.is_staff:
        answers.append(page.get("/admin/connlogs/accesslogentry/").content)
    return answers


@pytest.fixture
def recorded(people, protected, settings):
    """Every query read by an identity viewer (linked: its names found their rows) and by
    acme's admin, who sees pseudonyms (their real names found nothing)."""
    people.admin = member(people.acme, "organization-admin", username="acme-admin")
    for q, reader in itertools.product(queries(), (people.viewer, people.admin)):
        response = as_user(reader).get(LIST, {"q": q})
        assert response.status_code == 200, (q, response.content[:300])
    return people


def test_no_search_on_record_shows_a_real_identity_to_who_sees_pseudonyms(recorded, settings):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    entries = AccessLogEntry.objects.count()
    assert entries == 2 * len(queries())
    for reader in (recorded.owner, recorded.admin):
        for answer in everything_shown(reader):
            assert not leaks(answer), (leaks(answer), answer[:400])
    shown = [
        e["q"]
        for e in as_user(recorded.owner)
        .get(LIST.replace("connectionlog", "accesslog"), {"limit": 1000})
        .json()["entries"]
    ]
    assert len(shown) == entries and all(shown)
    # The other keys stay as typed.
    assert sum("type:ssh" in q for q in shown) >= 4
    assert sum(q.startswith("workspace_owner:me ") for q in shown) == 2


def test_searches_on_record_are_kept_as_typed_and_shown_so_to_who_may_see(recorded):
    chain.seal_all()
    assert chain.verify().ok
    stored = set(AccessLogEntry.objects.values_list("q", flat=True))
    assert stored == set(queries())
    shown = as_user(recorded.owner).get("/api/v2/accesslog", {"limit": 1000}).json()
    assert {entry["q"] for entry in shown["entries"]} == stored


def test_a_search_that_found_people_names_them_by_the_pseudonyms_of_their_rows(people, protected):
    owner = as_user(people.auditor).get(LIST, {"q": "type:ssh organization:acme"}).json()
    pseudonym = owner["connection_logs"][0]["workspace_owner_username"]
    as_user(people.viewer).get(LIST, {"q": "workspace_owner:Alice-Owner,nobody-here type:ssh"})
    admin = member(people.acme, "organization-admin", username="acme-admin")
    entries = as_user(admin).get("/api/v2/accesslog").json()["entries"]
    [q] = [entry["q"] for entry in entries if entry["user"]["username"] == "id-viewer"]
    assert re.fullmatch(rf"workspace_owner:{pseudonym},user-[0-9a-f]{{12}} type:ssh", q), q
    # The list shown can be typed back, and finds what the reader found.
    found = as_user(people.auditor).get(LIST, {"q": q}).json()
    assert found["count"] == 1


def test_real_names_typed_by_who_sees_pseudonyms_are_not_shown_as_their_pseudonyms(
    people, protected, settings
):
    """Else typing a real name and reading one's own entry would tell its pseudonym."""
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False  # the owner sees pseudonyms, every entry
    admin = member(people.acme, "organization-admin", username="acme-admin")
    rows = as_user(admin).get(LIST, {"q": "organization:acme"}).json()["connection_logs"]
    pseudonyms = {row["workspace_owner_username"] for row in rows} | {row["ip"] for row in rows}
    typed = (
        "workspace_owner:alice-owner,zed-nobody organization:acme",
        "ip:203.0.113.10,203.0.113.99 organization:acme",
        "alice-owner",
        "-workspace_owner:alice-owner organization:acme",
    )
    for reader, q in itertools.product((admin, people.owner), typed):
        assert as_user(reader).get(LIST, {"q": q}).status_code == 200
    for reader in (admin, people.owner):
        entries = as_user(reader).get("/api/v2/accesslog", {"limit": 100}).json()["entries"]
        shown = [entry["q"] for entry in entries if entry["q"] != "organization:acme"]
        assert len(shown) >= (8 if reader == people.owner else 1)
        assert not [p for p in pseudonyms if p in " ".join(shown)], shown
        assert not leaks(" ".join(shown).encode())


# --- saved views and streams -----------------------------------------------------------------


def listed_ids(user, **params) -> list[str]:
    response = as_user(user).get(LIST, params)
    assert response.status_code == 200, response.content[:300]
    return sorted(row["id"] for row in response.json()["connection_logs"])


@pytest.fixture
def shared_views(people, protected):
    views = [
        SavedView.objects.create(
            name=f"view {number}",
            q=q,
            sharing=Sharing.ORGANIZATION,
            organization=people.acme,
            owner=people.owner,
        )
        for number, q in enumerate(queries())
    ]
    return people, views


def test_a_shared_views_search_names_no_one_to_who_sees_pseudonyms(shared_views):
    people, views = shared_views
    listed = as_user(people.auditor).get("/api/v2/connectionlog/views")
    assert listed.status_code == 200 and not leaks(listed.content), leaks(listed.content)
    page = signed_in(people.auditor)
    for view in views:
        one = as_user(people.auditor).get(f"/api/v2/connectionlog/views/{view.id}")
        assert not leaks(one.content), (view.q, one.content)
        html = page.get("/connectionlog", {"view": str(view.id)})
        assert html.status_code == 200, (view.q, html.content[:300])
        assert not leaks(html.content), (view.q, leaks(html.content))
    as_user(people.auditor).put(
        "/api/v2/connectionlog/start-view", {"view": str(views[0].id)}, format="json"
    )
    start = as_user(people.auditor).get("/api/v2/connectionlog/start-view")
    assert start.status_code == 200 and not leaks(start.content)


def test_a_shared_view_selects_for_who_sees_pseudonyms_what_its_shown_search_selects(
    shared_views,
):
    people, views = shared_views
    for view in views:
        shown = as_user(people.auditor).get(f"/api/v2/connectionlog/views/{view.id}").json()["q"]
        by_view = listed_ids(people.auditor, view=str(view.id))
        assert by_view == listed_ids(people.auditor, q=shown), (view.q, shown)
        # ... which is what the view's own search selects for them.
        assert by_view == listed_ids(people.auditor, q=view.q), (view.q, shown)
    # Those who may see identities see the view as written.
    for view in views[:3]:
        seen = as_user(people.viewer).get(f"/api/v2/connectionlog/views/{view.id}").json()["q"]
        assert seen == view.q


def test_saving_a_view_with_the_search_it_showed_keeps_the_search_written(shared_views):
    people, views = shared_views
    admin = member(people.acme, "organization-admin", username="acme-admin")
    view = views[0]
    url = f"/api/v2/connectionlog/views/{view.id}"
    shown = as_user(admin).get(url).json()["q"]
    assert shown != view.q
    response = as_user(admin).patch(url, {"name": "renamed", "q": shown}, format="json")
    assert response.status_code == 200 and response.json()["q"] == shown
    view.refresh_from_db()
    assert (view.name, view.q) == ("renamed", queries()[0])


def test_a_streams_search_names_no_one_to_an_admin_who_sees_pseudonyms(people, protected):
    admin = member(people.acme, "organization-admin", username="acme-admin")
    for number, q in enumerate(queries()[:12]):
        Stream.objects.create(
            name=f"siem {number}",
            kind=StreamKind.HTTP,
            url="http://127.0.0.1:9/",
            q=q,
            organization=people.acme,
            created_by=people.owner,
        )
    listed = as_user(admin).get("/api/v2/connectionlog/streams")
    assert listed.status_code == 200 and len(listed.json()["streams"]) == 12
    assert not leaks(listed.content), leaks(listed.content)
    page = signed_in(admin)
    for stream in Stream.objects.all():
        form = page.get(f"/connectionlog/streams/{stream.id}/edit")
        assert form.status_code == 200 and not leaks(form.content), leaks(form.content)
        # Saving the form as shown keeps the stored search.
        stored = stream.q
        api = as_user(admin)
        shown = api.get(f"/api/v2/connectionlog/streams/{stream.id}").json()["q"]
        api.patch(f"/api/v2/connectionlog/streams/{stream.id}", {"q": shown}, format="json")
        stream.refresh_from_db()
        assert stream.q == stored
    assert (
        as_user(people.owner).get("/api/v2/connectionlog/streams").json()["streams"][0]["q"]
        in queries()
    )


def test_an_alert_rules_search_names_no_one_to_an_admin_who_sees_pseudonyms(people, protected):
    admin = member(people.acme, "organization-admin", username="acme-admin")
    for number, q in enumerate(queries()[:12]):
        AlertRule.objects.create(
            name=f"watch {number}",
            kind=RuleKind.EACH_MATCH,
            channel=Channel.WEBHOOK,
            url="http://127.0.0.1:9/",
            q=q,
            organization=people.acme,
            created_by=people.owner,
        )
    api, page = as_user(admin), signed_in(admin)
    listed = api.get("/api/v2/connectionlog/alerts/rules")
    assert listed.status_code == 200 and len(listed.json()["rules"]) == 12
    answers = [listed.content, page.get("/connectionlog/alerts").content]
    for rule in AlertRule.objects.all():
        answers.append(api.get(f"/api/v2/connectionlog/alerts/rules/{rule.id}").content)
        answers.append(page.get(f"/connectionlog/alerts/{rule.id}/edit").content)
    for answer in answers:
        assert not leaks(answer), leaks(answer)
    rule = AlertRule.objects.first()
    stored = rule.q
    shown = api.get(f"/api/v2/connectionlog/alerts/rules/{rule.id}").json()["q"]
    assert shown != stored
    url = f"/api/v2/connectionlog/alerts/rules/{rule.id}"
    changed = api.patch(url, {"name": "renamed", "q": shown}, format="json")
    assert changed.status_code == 200, changed.content
    rule.refresh_from_db()
    assert (rule.name, rule.q) == ("renamed", stored)
    # A site owner who sees identities is shown what was written.
    assert (
        as_user(people.owner).get(f"/api/v2/connectionlog/alerts/rules/{rule.id}").json()["q"]
        == stored
    )
