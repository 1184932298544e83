"""The user object wherever the API shows one: Coder's ``codersdk.User``.

- ``name`` and ``avatar_url`` are omitted when empty (Coder's ``omitempty``; its schema says
  ``avatar_url`` is a URI, which ``""`` is not), and shown when set;
- ``has_ai_seat`` is always there (``false``);
- ``organization_ids`` lists the user's organizations that the caller may see.

The doors: a web row's ``web_info.user`` in the list API, the NDJSON export and the detail
page's API view, and the directory API's answers (create, read, update roles).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connlogs import roles
from tests.conftest import as_user
from tests.exports import ndjson_entries
from tests.factories import (
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

LIST = "/api/v2/connectionlog"
EXPORT = "/api/v2/connectionlog/export"


@pytest.fixture
def initech(db):
    return OrganizationFactory(name="initech", display_name="Initech")


@pytest.fixture
def carol(org, other_org, initech):
    """A member of all three organizations, without a name or an avatar."""
    carol = UserFactory(username="carol", name="", avatar_url="")
    for organization in (org, other_org, initech):
        MembershipFactory(user=carol, organization=organization)
    return carol


@pytest.fixture
def web_row(org, carol):
    return ConnectionLogFactory(
        workspace=WorkspaceFactory(organization=org), type="workspace_app", user=carol, code=200
    )


def listed_user(client) -> dict:
    response = client.get(LIST)
    assert response.status_code == 200, response.content
    [entry] = response.json()["connection_logs"]
    return entry["web_info"]["user"]


def exported_user(client) -> dict:
    response = client.get(EXPORT, {"format": "ndjson"})
    assert response.status_code == 200
    [entry] = ndjson_entries(b"".join(response.streaming_content))
    return entry["web_info"]["user"]


def detail_page_user(user, row) -> dict:
    client = Client()
    client.force_login(user)
    response = client.get(f"/connectionlog/{row.id}")
    assert response.status_code == 200
    return json.loads(response.context["api_json"])["web_info"]["user"]


def directory_user(client, username) -> dict:
    response = client.get(f"/api/v2/users/{username}")
    assert response.status_code == 200, response.content
    return response.json()


def sorted_ids(*organizations) -> list[str]:
    return sorted(str(organization.id) for organization in organizations)


# --- name, avatar_url, has_ai_seat -----------------------------------------------------------


def every_door(owner, row) -> dict[str, dict]:
    api = as_user(owner)
    username = row.user.username
    return {
        "list": listed_user(api),
        "export": exported_user(api),
        "detail page": detail_page_user(owner, row),
        "get user": directory_user(api, username),
        "update roles": api.put(
            f"/api/v2/users/{username}/roles", {"roles": []}, format="json"
        ).json(),
    }


def test_empty_name_and_avatar_are_omitted_and_has_ai_seat_is_false_everywhere(owner, web_row):
    for door, user in every_door(owner, web_row).items():
        assert user["username"] == "carol", door
        assert "name" not in user and "avatar_url" not in user, door
        assert user["has_ai_seat"] is False, door


def test_name_and_avatar_are_shown_when_set(owner, web_row):
    web_row.user.name = "Carol Chen"
    web_row.user.avatar_url = "https://example.com/carol.png"
    web_row.user.save()
    for door, user in every_door(owner, web_row).items():
        assert (user["name"], user["avatar_url"]) == (
            "Carol Chen",
            "https://example.com/carol.png",
        ), door
        assert user["has_ai_seat"] is False, door


def test_a_created_user_without_a_name_has_no_name_key(owner_api):
    response = owner_api.post(
        "/api/v2/users", {"username": "dana", "email": "dana@example.com"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert "name" not in body and "avatar_url" not in body
    assert body["has_ai_seat"] is False and body["organization_ids"] == []


# --- organization_ids: the user's organizations the caller may see ------------------------


def test_a_site_owner_sees_every_organization_of_the_user(owner, web_row, org, other_org, initech):
    api = as_user(owner)
    every = sorted_ids(org, other_org, initech)
    assert listed_user(api)["organization_ids"] == every
    assert exported_user(api)["organization_ids"] == every
    assert detail_page_user(owner, web_row)["organization_ids"] == every
    assert directory_user(api, "carol")["organization_ids"] == every


def test_an_organization_admin_sees_only_shared_organizations(web_row, org, other_org):
    admin = member(org, roles.ORGANIZATION_ADMIN)
    MembershipFactory(user=admin, organization=other_org)  # a plain member there
    api = as_user(admin)
    # Members see their own organizations by name: acme and globex, never initech.
    expected = sorted_ids(org, other_org)
    assert listed_user(api)["organization_ids"] == expected
    assert exported_user(api)["organization_ids"] == expected
    assert detail_page_user(admin, web_row)["organization_ids"] == expected
    assert directory_user(api, "carol")["organization_ids"] == expected


def test_an_auditor_of_one_organization_sees_that_one(web_row, org):
    auditor = member(org, roles.ORGANIZATION_AUDITOR)
    assert listed_user(as_user(auditor))["organization_ids"] == [str(org.id)]


def test_a_user_reading_themself_sees_their_organizations(carol, org, other_org, initech):
    assert directory_user(as_user(carol), "me")["organization_ids"] == sorted_ids(
        org, other_org, initech
    )


def test_the_export_shows_each_user_as_the_list_does_across_batches(
    owner, org, other_org, initech, monkeypatch
):
    from connlogs.export import rows as export_rows

    monkeypatch.setattr(export_rows, "CHUNK_SIZE", 3)
    workspace = WorkspaceFactory(organization=org)
    people = [UserFactory(name="", avatar_url="") for _ in range(4)]
    for person, organizations in zip(
        people, ([], [org], [org, other_org], [initech, other_org]), strict=True
    ):
        for organization in organizations:
            MembershipFactory(user=person, organization=organization)
    # The first user owns a workspace too: shown once as an owner, later as a web user.
    WorkspaceFactory(organization=org, owner=people[0])
    for index in range(10):
        ConnectionLogFactory(workspace=workspace, type="tunnel", user=people[index % 4], code=101)
    for api in (as_user(owner), as_user(member(org, roles.ORGANIZATION_AUDITOR))):
        listed = api.get(LIST).json()["connection_logs"]
        body = b"".join(api.get(EXPORT, {"format": "ndjson"}).streaming_content).decode()
        assert ndjson_entries(body) == listed
        assert {len(entry["web_info"]["user"]["organization_ids"]) for entry in listed} != {0}


# --- cost --------------------------------------------------------------------------------------


def page_queries(owner_api, users: int) -> int:
    organizations = [OrganizationFactory() for _ in range(3)]
    people = [UserFactory() for _ in range(users)]
    for index, person in enumerate(people):
        for organization in organizations[: index % 4]:
            MembershipFactory(user=person, organization=organization)
    workspace = WorkspaceFactory(organization=organizations[0])
    for index in range(100):
        ConnectionLogFactory(
            workspace=workspace, type="workspace_app", user=people[index % users], code=200
        )
    owner_api.get(LIST)  # the token's last-seen write happens once a minute
    with CaptureQueriesContext(connection) as captured:
        page = owner_api.get(LIST, {"limit": 100}).json()["connection_logs"]
    assert len(page) == 100
    assert any(entry["web_info"]["user"]["organization_ids"] for entry in page)
    return len(captured)


def test_a_page_of_users_costs_one_membership_query_whatever_the_users(owner_api):
    few = page_queries(owner_api, users=2)
    from connlogs.models import ConnectionLog

    ConnectionLog.objects.all().delete()
    many = page_queries(owner_api, users=50)
    # token, rows, count, one query for the memberships of every user shown, and the
    # access-log entry.
    assert few == many == 5


# --- the OpenAPI schema -----------------------------------------------------------------------


def test_the_schema_says_name_and_avatar_are_optional_and_has_ai_seat_is_required(api, db):
    schema = api.get("/api/v2/openapi.json", {"format": "json"}).json()
    user = schema["components"]["schemas"]["User"]
    properties, required = user["properties"], set(user["required"])
    assert "name" not in required and "avatar_url" not in required
    assert properties["avatar_url"]["format"] == "uri"
    assert properties["has_ai_seat"]["type"] == "boolean" and "has_ai_seat" in required
    assert {"id", "username", "email", "organization_ids", "roles"} <= required
    web_user = schema["components"]["schemas"]["WebInfo"]["properties"]["user"]
    assert "User" in json.dumps(web_user)
