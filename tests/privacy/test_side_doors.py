"""Doors beside the connection log's own that could name the people it hides: the workspace
directory, the access log (its searches), the admin of owners kept from identities."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from connlogs import roles
from connlogs.models import AccessLogEntry, Workspace
from tests.conftest import as_user
from tests.factories import member
from tests.privacy.conftest import REAL

LIST = "/api/v2/connectionlog"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def leaks(body: bytes) -> list[bytes]:
    return [real for real in REAL if real in body]


def alices_row(user) -> dict:
    """The ssh row of alice's workspace as ``user`` is shown it in the list."""
    entries = as_user(user).get(LIST, {"q": "type:ssh organization:acme"}).json()
    return entries["connection_logs"][0]


# --- the workspace directory ---------------------------------------------------------------


def test_a_workspace_in_the_directory_names_its_owner_as_the_log_does(people, protected):
    workspace = people.rows[0].workspace_id
    url = f"/api/v2/workspaces/{workspace}"
    shown = as_user(people.auditor).get(url)
    assert shown.status_code == 200
    assert not leaks(shown.content)
    row = alices_row(people.auditor)
    assert (shown.json()["owner_id"], shown.json()["owner_name"]) == (
        row["workspace_owner_id"],
        row["workspace_owner_username"],
    )
    # Those who may see identities, and the owner themselves, see the owner.
    for reader in (people.viewer, people.owner, people.alice):
        assert as_user(reader).get(url).json()["owner_name"] == "alice-owner"


def test_the_directory_writes_do_not_pair_a_person_with_their_pseudonym(people, protected):
    """An organization admin shown pseudonyms may not create a workspace for a member they
    name (its rows would show that member's pseudonym), and a deleted workspace's answer
    names its owner as the log does; with the mode off, or as a site owner, both name them."""
    admin = member(people.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    create = "/api/v2/organizations/acme/members/{}/workspaces"
    refused = as_user(admin).post(create.format("alice-owner"), {"name": "probe"}, format="json")
    assert refused.status_code == 403 and "pseudonym" in refused.json()["detail"]
    assert not Workspace.objects.filter(name="probe").exists()
    own = as_user(admin).post(create.format("acme-admin"), {"name": "mine"}, format="json")
    assert own.status_code == 201 and own.json()["owner_name"] == "acme-admin"
    by_owner = as_user(people.owner).post(
        create.format("alice-owner"), {"name": "probe"}, format="json"
    )
    assert by_owner.status_code == 201 and by_owner.json()["owner_name"] == "alice-owner"

    deleted = as_user(admin).delete(f"/api/v2/workspaces/{people.rows[0].workspace_id}")
    assert deleted.status_code == 200 and not leaks(deleted.content)
    assert deleted.json()["owner_name"] == alices_row(admin)["workspace_owner_username"]


def test_the_directory_writes_name_people_when_the_mode_is_off(people):
    admin = member(people.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    made = as_user(admin).post(
        "/api/v2/organizations/acme/members/alice-owner/workspaces", {"name": "x"}, format="json"
    )
    assert made.status_code == 201 and made.json()["owner_name"] == "alice-owner"


def test_the_directory_names_owners_when_the_mode_is_off(people):
    url = f"/api/v2/workspaces/{people.rows[0].workspace_id}"
    assert as_user(people.auditor).get(url).json()["owner_name"] == "alice-owner"


# --- the access log's searches -------------------------------------------------------------

SEARCHES = (
    "workspace_owner:alice-owner type:ssh",
    "user_email:bob@corp.example",
    "username:nobody-at-all",
)


@pytest.fixture
def searched(people):
    """An identity viewer's searches by real names; acme's admin, who sees pseudonyms."""
    for q in SEARCHES:
        assert as_user(people.viewer).get(LIST, {"q": q}).status_code == 200
    people.admin = member(people.acme, "organization-admin", username="acme-admin")
    return people


def access_log_answers(user) -> list[bytes]:
    api, page = as_user(user), signed_in(user)
    return [
        api.get("/api/v2/accesslog").content,
        b"".join(api.get("/api/v2/accesslog/export", {"format": "csv"}).streaming_content),
        b"".join(api.get("/api/v2/accesslog/export", {"format": "ndjson"}).streaming_content),
        page.get("/accesslog").content,
        b"".join(page.get("/accesslog/export", {"format": "csv"}).streaming_content),
    ]


def shown_searches(user) -> list[str]:
    return [e["q"] for e in as_user(user).get("/api/v2/accesslog").json()["entries"]]


def test_searches_on_record_name_people_by_pseudonym_to_who_sees_pseudonyms(searched, protected):
    for answer in access_log_answers(searched.admin):
        assert not leaks(answer), answer[:300]
    shown = shown_searches(searched.admin)
    owner = alices_row(searched.auditor)["workspace_owner_username"]
    bob = as_user(searched.auditor).get(LIST, {"q": "type:workspace_app"}).json()
    bob_email = bob["connection_logs"][0]["web_info"]["user"]["email"]
    # (The search that found nothing read no organization's rows: only site owners see it.)
    assert shown == [
        f"user_email:{bob_email}",
        f"workspace_owner:{owner} type:ssh",
    ]
    # The pseudonym on record finds the rows the search found.
    found = as_user(searched.auditor).get(LIST, {"q": f"workspace_owner:{owner}"}).json()
    assert found["count"] == 2


def test_a_made_up_name_on_record_looks_like_any_other(searched, protected, settings):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    for answer in access_log_answers(searched.owner):
        assert not leaks(answer) and b"nobody-at-all" not in answer
    made_up = shown_searches(searched.owner)[0]
    assert re.fullmatch(r"username:user-[0-9a-f]{12}", made_up), made_up


def test_a_readers_own_words_on_record_do_not_tell_who_exists(people, protected):
    """Free words an admin shown pseudonyms typed are written back as stand-ins whether or
    not they are part of someone's name (another organization's user too): ``-gus`` and a
    word nobody has read alike, and each is a stand-in, not the pseudonym of anyone."""
    admin = member(people.acme, "organization-admin", username="acme-admin")
    for q in ("-gus", "-zzznobody", "dev"):
        assert as_user(admin).get(LIST, {"q": q}).status_code == 200
    shown = shown_searches(admin)
    assert len(shown) == 3
    assert all(re.fullmatch(r"(-search:)?user-[0-9a-f]{12}", q) for q in shown), shown
    gus = as_user(people.owner).get(LIST, {"q": "organization:globex"}).json()
    assert all(
        row["workspace_owner_username"] not in " ".join(shown) for row in gus["connection_logs"]
    )


def test_a_readers_own_view_does_not_tell_who_exists_elsewhere(people, protected):
    """A view's ``q`` is written back through the same renderer: a word that is part of the
    name of someone in another organization (``gus``, globex) reads exactly like a word
    nobody has, as typed; one of the reader's own organization's names is a stand-in."""
    admin = member(people.acme, "organization-admin", username="acme-admin")
    views = "/api/v2/connectionlog/views"
    shown = {}
    for q in ("-gus", "-zzznobody", "-alice"):
        made = as_user(admin).post(views, {"name": q, "q": q}, format="json")
        assert made.status_code == 201, made.content
        shown[q] = as_user(admin).get(f"{views}/{made.json()['id']}").json()["q"]
    assert shown["-gus"] == "-search:gus" and shown["-zzznobody"] == "-search:zzznobody"
    assert re.fullmatch(r"-search:user-[0-9a-f]{12}", shown["-alice"]), shown


def test_a_streams_search_on_record_is_never_linked(people, protected):
    """A stream batch's entry holds the search whoever edits the stream typed: shown to an
    admin who sees pseudonyms, its names are stand-ins, not the pseudonyms of the rows."""
    from connlogs.accesslog.record import Door, Read, Reader, record

    reader = Reader.for_delivery(people.owner, 'stream "siem"', "127.0.0.1:9")
    organizations = {people.acme.pk}
    record(
        reader,
        Read(
            door=Door.STREAM,
            q="workspace_owner:alice-owner",
            rows=2,
            organizations=organizations,
            revealed=True,
        ),
    )
    admin = member(people.acme, "organization-admin", username="acme-admin")
    [shown] = shown_searches(admin)
    owner = alices_row(people.auditor)["workspace_owner_username"]
    assert re.fullmatch(r"workspace_owner:user-[0-9a-f]{12}", shown) and owner not in shown


def test_searches_on_record_are_shown_as_typed_to_who_sees_identities(searched, protected):
    assert shown_searches(searched.owner) == list(reversed(SEARCHES))


def test_searches_on_record_are_shown_as_typed_with_the_mode_off(searched):
    assert shown_searches(searched.admin) == list(reversed(SEARCHES[:2]))


def test_the_chain_keeps_the_searches_as_typed(searched, protected):
    from connlogs.accesslog import chain

    as_user(searched.admin).get("/api/v2/accesslog")
    chain.seal_all()
    assert chain.verify().ok
    assert set(AccessLogEntry.objects.values_list("q", flat=True)) == set(SEARCHES)


# --- the admin, for owners kept from identities --------------------------------------------


def test_owners_kept_from_identities_see_none_in_the_admin(people, protected, settings):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    as_user(people.viewer).get(LIST, {"q": "workspace_owner:alice-owner"})
    admin = signed_in(people.owner)
    row = people.rows[1]
    pages = [
        admin.get("/admin/connlogs/connectionlog/"),
        admin.get(f"/admin/connlogs/connectionlog/{row.id}/change/"),
        admin.get("/admin/connlogs/accesslogentry/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert not leaks(page.content), page.content[:300]
    assert b"user-" in pages[0].content and b"user-" in pages[2].content


def test_an_owner_kept_from_identities_reads_anothers_checksum_file_without_names(
    people, protected, settings
):
    settings.CONNLOGS_OWNERS_SEE_IDENTITIES = False
    response = as_user(people.viewer).get(
        "/api/v2/connectionlog/export", {"format": "csv", "q": "workspace_owner:alice-owner"}
    )
    b"".join(response.streaming_content)
    name = response["Content-Disposition"].split('"')[1]
    path = f"/api/v2/connectionlog/exports/{name}.sha256"
    assert b"alice-owner" in as_user(people.viewer).get(path).content  # the caller's own
    theirs = as_user(people.owner).get(path)
    assert theirs.status_code == 200 and not leaks(theirs.content)
    assert (
        theirs.content.splitlines()[-1] == as_user(people.viewer).get(path).content.splitlines()[-1]
    )
