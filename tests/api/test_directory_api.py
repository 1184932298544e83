"""Users, organizations, members and workspaces (write-api.md sections 2 to 4).

Who may see what (decided here, asked of connlogs.roles):
- a user: themself, site owners and auditors, admins and auditors of an organization the
  user belongs to; anyone else gets 404;
- an organization: site owners and auditors, its members;
- a workspace: its owner, site owners and auditors, its organization's admins and auditors;
- managing members and workspaces: site owners and the organization's admins. Someone who
  can see the organization but not manage it gets 403; someone who cannot see it, 404;
  an organization admin naming a user they cannot see gets the 404 of an unknown name.
"""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from connlogs.models import ConnectionLog, Membership, Organization, User, Workspace
from tests.conftest import as_user
from tests.factories import PASSWORD, UserFactory, WorkspaceFactory, member

# A user object without an avatar (the key is omitted when empty, as in Coder).
USER_KEYS = {
    "id",
    "username",
    "name",
    "email",
    "created_at",
    "updated_at",
    "last_seen_at",
    "status",
    "login_type",
    "has_ai_seat",
    "organization_ids",
    "roles",
}


def conflict_field(response):
    assert response.status_code == 409, response.content
    [validation] = response.json()["validations"]
    return validation["field"]


def bad_fields(response):
    assert response.status_code == 400, response.content
    return [v["field"] for v in response.json()["validations"]]


# --- the permission matrix --------------------------------------------------------------

ACTORS = (
    "owner",
    "site_auditor",
    "org_admin",
    "other_org_admin",
    "member",
    "workspace_owner",
    "reporter",
    "anonymous",
)


@pytest.fixture
def world(org, other_org, owner):
    """acme: ada (admin), mel (plain member), alice (member, owns workspace dev);
    globex: gus (admin); audrey (site auditor); rep (connection reporter); bob (no org)."""
    alice = member(org, username="alice")
    people = {
        "owner": owner,
        "site_auditor": UserFactory(username="audrey", site_roles=["auditor"]),
        "org_admin": member(org, "organization-admin", username="ada"),
        "other_org_admin": member(other_org, "organization-admin", username="gus"),
        "member": member(org, username="mel"),
        "workspace_owner": alice,
        "reporter": UserFactory(username="rep", site_roles=["connection-reporter"]),
        "anonymous": None,
    }
    UserFactory(username="bob")
    workspace = WorkspaceFactory(organization=org, owner=alice, name="dev")
    return {"people": people, "workspace": workspace}


def _client(world, actor):
    person = world["people"][actor]
    return APIClient() if person is None else as_user(person)


EVENT = {
    "action": "connect",
    "time": "2025-07-10T10:00:00Z",
    "type": "ssh",
    "workspace_id": "{ws}",
    "agent_name": "main",
    "connection_id": "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908",
}

# (method, path, body, expected status per actor in ACTORS order)
MATRIX = [
    ("POST", "/users", {"username": "newbie", "email": "newbie@example.com"},
     (201, 403, 403, 403, 403, 403, 403, 401)),
    ("GET", "/users/alice", None, (200, 200, 200, 404, 404, 200, 404, 401)),
    ("GET", "/users/me", None, (200, 200, 200, 200, 200, 200, 200, 401)),
    ("PUT", "/users/alice/roles", {"roles": ["auditor"]},
     (200, 403, 403, 403, 403, 403, 403, 401)),
    ("POST", "/organizations", {"name": "initech"}, (201, 403, 403, 403, 403, 403, 403, 401)),
    ("GET", "/organizations/acme", None, (200, 200, 200, 404, 200, 200, 404, 401)),
    # bob is in no organization: ada (acme's admin) cannot see him, so he is not there for her.
    ("POST", "/organizations/acme/members/bob", None, (200, 403, 404, 404, 403, 403, 404, 401)),
    ("PUT", "/organizations/acme/members/alice/roles", {"roles": ["organization-auditor"]},
     (200, 403, 200, 404, 403, 403, 404, 401)),
    ("DELETE", "/organizations/acme/members/alice", None,
     (204, 403, 204, 404, 403, 403, 404, 401)),
    ("POST", "/organizations/acme/members/alice/workspaces", {"name": "new"},
     (201, 403, 201, 404, 403, 403, 404, 401)),
    ("GET", "/workspaces/{ws}", None, (200, 200, 200, 404, 404, 200, 404, 401)),
    ("DELETE", "/workspaces/{ws}", None, (200, 403, 200, 404, 404, 403, 404, 401)),
    ("POST", "/connectionlog/events", {"events": [EVENT]},
     (200, 403, 403, 403, 403, 403, 200, 401)),
]  # fmt: skip

CASES = [
    pytest.param(method, path, body, actor, expected[i], id=f"{method} {path} as {actor}")
    for method, path, body, expected in MATRIX
    for i, actor in enumerate(ACTORS)
]


@pytest.mark.parametrize("method, path, body, actor, status", CASES)
def test_permission_matrix(world, method, path, body, actor, status):
    workspace = world["workspace"]
    url = "/api/v2" + path.format(ws=workspace.id)
    client = _client(world, actor)
    data = "" if body is None else json.dumps(body).replace("{ws}", str(workspace.id))
    response = client.generic(method, url, data, content_type="application/json")
    assert response.status_code == status, response.content
    if status >= 400:
        assert "message" in response.json()
    # A refused request changes nothing.
    if status in (401, 403, 404):
        assert not User.objects.filter(username="newbie").exists()
        assert not Organization.objects.filter(name="initech").exists()
        assert not Membership.objects.filter(user__username="bob").exists()
        assert Membership.objects.filter(user__username="alice", roles=[]).exists()
        assert User.objects.get(username="alice").site_roles == []
        assert Workspace.objects.filter(deleted=True).count() == 0
        assert Workspace.objects.count() == 1
        assert not ConnectionLog.objects.exists()


# --- users ------------------------------------------------------------------------------


def test_create_user_answers_the_user_object(owner_api):
    response = owner_api.post(
        "/api/v2/users",
        {"username": "Carol", "email": "Carol@Example.com", "password": PASSWORD, "name": "C"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_KEYS
    assert (body["username"], body["email"], body["name"], body["login_type"]) == (
        "Carol",
        "carol@example.com",
        "C",
        "password",
    )
    assert (body["status"], body["roles"], body["organization_ids"]) == ("active", [], [])
    signed_in = owner_api.post(
        "/api/v2/users/login", {"email": "carol@example.com", "password": PASSWORD}, format="json"
    )
    assert signed_in.status_code == 201


def test_a_user_without_password_is_login_type_none_and_cannot_sign_in(owner_api, api):
    response = owner_api.post(
        "/api/v2/users", {"username": "svc", "email": "svc@example.com"}, format="json"
    )
    assert response.json()["login_type"] == "none"
    for password in ("", "!", PASSWORD):
        signed_in = api.post(
            "/api/v2/users/login", {"email": "svc@example.com", "password": password}, format="json"
        )
        assert signed_in.status_code in (400, 401)
    assert not User.objects.get(username="svc").has_usable_password()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "ROOT", "email": "x@example.com"}, "username"),
        ({"username": "fresh", "email": "ROOT@example.com"}, "email"),
    ],
    ids=["username, other case", "email, other case"],
)
def test_taken_username_or_email_is_a_409_naming_it(owner_api, owner, body, field):
    assert conflict_field(owner_api.post("/api/v2/users", body, format="json")) == field
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a@example.com"}, "username"),
        ({"username": "me", "email": "a@example.com"}, "username"),
        ({"username": "Login", "email": "a@example.com"}, "username"),
        ({"username": str(uuid.uuid4()), "email": "a@example.com"}, "username"),
        ({"username": "a b", "email": "a@example.com"}, "username"),
        ({"username": "-a", "email": "a@example.com"}, "username"),
        ({"username": "a" * 65, "email": "a@example.com"}, "username"),
        ({"username": "amy"}, "email"),
        ({"username": "amy", "email": "not-an-email"}, "email"),
        ({"username": "amy", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "amy", "email": "a@example.com", "login_type": "password"}, "password"),
        (
            {
                "username": "amy",
                "email": "a@example.com",
                "login_type": "oidc",
                "password": PASSWORD,
            },
            "password",
        ),
        ({"username": "amy", "email": "a@example.com", "login_type": "saml"}, "login_type"),
    ],
    ids=[
        "no username",
        "me is reserved",
        "login is reserved",
        "a UUID",
        "a space",
        "leading hyphen",
        "65 characters",
        "no email",
        "bad email",
        "short password",
        "password login without password",
        "password with oidc",
        "unknown login type",
    ],
)
def test_bad_user_bodies_are_a_400_naming_the_field(owner_api, body, field):
    response = owner_api.post("/api/v2/users", body, format="json")
    assert bad_fields(response) == [field]
    assert User.objects.count() == 1


def test_get_user_by_uuid_username_in_any_case_and_me(owner_api, owner):
    alice = UserFactory(username="alice")
    for ref in (str(alice.id), "ALICE", alice.id.hex):
        response = owner_api.get(f"/api/v2/users/{ref}")
        assert response.status_code == 200 and response.json()["id"] == str(alice.id)
    assert owner_api.get("/api/v2/users/me").json()["username"] == "root"
    assert owner_api.get("/api/v2/users/nobody").status_code == 404
    assert owner_api.get(f"/api/v2/users/{uuid.uuid4()}").status_code == 404


def test_put_site_roles(owner_api):
    alice = UserFactory(username="alice")
    response = owner_api.put(
        "/api/v2/users/alice/roles",
        {"roles": ["connection-reporter", "auditor", "auditor"]},
        format="json",
    )
    assert response.json()["roles"] == [
        {"name": "auditor", "display_name": "Auditor"},
        {"name": "connection-reporter", "display_name": "Connection Reporter"},
    ]
    alice.refresh_from_db()
    assert alice.site_roles == ["auditor", "connection-reporter"]
    assert (
        owner_api.put("/api/v2/users/alice/roles", {"roles": []}, format="json").json()["roles"]
        == []
    )


@pytest.mark.parametrize(
    "body",
    [{"roles": ["superuser"]}, {"roles": ["organization-admin"]}, {"roles": "owner"}, {}],
    ids=["unknown role", "an organization role", "not a list", "missing"],
)
def test_bad_site_roles_are_a_400_naming_roles(owner_api, body):
    UserFactory(username="alice")
    response = owner_api.put("/api/v2/users/alice/roles", body, format="json")
    assert bad_fields(response) == ["roles"]
    assert User.objects.get(username="alice").site_roles == []


def test_the_last_owner_cannot_drop_the_owner_role(owner_api, owner):
    response = owner_api.put("/api/v2/users/me/roles", {"roles": ["auditor"]}, format="json")
    assert bad_fields(response) == ["roles"]
    UserFactory(username="second", site_roles=["owner"])
    response = owner_api.put("/api/v2/users/me/roles", {"roles": ["auditor"]}, format="json")
    assert response.status_code == 200


# --- organizations ----------------------------------------------------------------------


def test_create_organization(owner_api):
    response = owner_api.post(
        "/api/v2/organizations",
        {"name": "initech", "description": "TPS reports", "icon": "/icons/i.svg"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "display_name",
        "description",
        "icon",
        "created_at",
        "updated_at",
    }
    assert (body["name"], body["display_name"], body["description"], body["icon"]) == (
        "initech",
        "initech",
        "TPS reports",
        "/icons/i.svg",
    )
    for ref in ("initech", "INITECH", body["id"]):
        assert owner_api.get(f"/api/v2/organizations/{ref}").json()["id"] == body["id"]


@pytest.mark.parametrize(
    "name",
    ["Initech", "ini tech", "ini_tech", "-initech", "a" * 65, str(uuid.uuid4()), ""],
    ids=["upper case", "space", "underscore", "leading hyphen", "65 characters", "uuid", "empty"],
)
def test_organization_names_are_lower_case_url_safe(owner_api, name):
    response = owner_api.post("/api/v2/organizations", {"name": name}, format="json")
    assert bad_fields(response) == ["name"]


def test_taken_organization_name_is_a_409(owner_api, org):
    response = owner_api.post("/api/v2/organizations", {"name": "acme"}, format="json")
    assert conflict_field(response) == "name"
    assert Organization.objects.count() == 1


def test_unknown_organization_is_a_404(owner_api):
    assert owner_api.get("/api/v2/organizations/nope").status_code == 404
    assert owner_api.get(f"/api/v2/organizations/{uuid.uuid4()}").status_code == 404


# --- members ----------------------------------------------------------------------------


def test_add_member_and_set_roles(owner_api, org):
    bob = UserFactory(username="bob")
    response = owner_api.post("/api/v2/organizations/acme/members/bob")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user_id", "organization_id", "created_at", "updated_at", "roles"}
    assert (body["user_id"], body["organization_id"], body["roles"]) == (
        str(bob.id),
        str(org.id),
        [],
    )
    response = owner_api.put(
        "/api/v2/organizations/acme/members/bob/roles",
        {"roles": ["organization-auditor", "organization-admin"]},
        format="json",
    )
    assert response.json()["roles"] == [
        {"name": "organization-admin", "display_name": "Organization Admin",
         "organization_id": str(org.id)},
        {"name": "organization-auditor", "display_name": "Organization Auditor",
         "organization_id": str(org.id)},
    ]  # fmt: skip


def test_adding_a_member_twice_is_a_409(owner_api, org):
    member(org, username="bob")
    assert conflict_field(owner_api.post("/api/v2/organizations/acme/members/bob")) == "user"


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/organizations/acme/members/nobody"),
        ("POST", "/organizations/nope/members/bob"),
        ("DELETE", "/organizations/acme/members/bob"),
        ("PUT", "/organizations/acme/members/bob/roles"),
        ("POST", "/organizations/acme/members/bob/workspaces"),
    ],
    ids=["unknown user", "unknown organization", "remove a non-member", "roles of a non-member",
         "workspace for a non-member"],
)  # fmt: skip
def test_unknown_users_orgs_and_memberships_are_a_404(owner_api, org, method, path):
    UserFactory(username="bob")
    body = '{"roles": [], "name": "dev"}'
    response = owner_api.generic(method, "/api/v2" + path, body, content_type="application/json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "roles",
    [["owner"], ["organization-owner"], "organization-admin"],
    ids=["a site role", "unknown", "not a list"],
)
def test_bad_organization_roles_are_a_400_naming_roles(owner_api, org, roles):
    member(org, username="bob")
    response = owner_api.put(
        "/api/v2/organizations/acme/members/bob/roles", {"roles": roles}, format="json"
    )
    assert bad_fields(response) == ["roles"]
    assert Membership.objects.get(user__username="bob").roles == []


def test_an_admin_removed_from_the_organization_loses_its_powers(
    client_for, org, other_org, owner_api
):
    ada = member(org, "organization-admin", username="ada")
    Membership.objects.create(organization=other_org, user=ada, roles=["organization-admin"])
    member(other_org, username="bob")  # ada sees bob through globex
    ada_api = client_for(ada)
    assert ada_api.post("/api/v2/organizations/acme/members/bob").status_code == 200
    assert owner_api.delete("/api/v2/organizations/acme/members/ada").status_code == 204
    assert ada_api.delete("/api/v2/organizations/acme/members/bob").status_code == 404
    assert Membership.objects.filter(user__username="bob").exists()


# --- workspaces -------------------------------------------------------------------------


def test_create_get_and_delete_a_workspace(owner_api, org):
    alice = member(org, username="alice")
    response = owner_api.post(
        "/api/v2/organizations/acme/members/alice/workspaces", {"name": "dev"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "dev",
        "owner_id": str(alice.id),
        "owner_name": "alice",
        "organization_id": str(org.id),
        "organization_name": "acme",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "deleted": False,
    }
    assert owner_api.get(f"/api/v2/workspaces/{body['id']}").json()["deleted"] is False
    deleted = owner_api.delete(f"/api/v2/workspaces/{body['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert owner_api.get(f"/api/v2/workspaces/{body['id']}").json()["deleted"] is True
    # Deleting again is harmless.
    assert owner_api.delete(f"/api/v2/workspaces/{body['id']}").status_code == 200


def test_workspace_names_are_unique_per_owner_among_live_workspaces(owner_api, org):
    member(org, username="alice")
    member(org, username="bob")
    url = "/api/v2/organizations/acme/members/{}/workspaces"
    first = owner_api.post(url.format("alice"), {"name": "dev"}, format="json").json()
    assert conflict_field(owner_api.post(url.format("alice"), {"name": "dev"}, format="json")) == (
        "name"
    )
    assert owner_api.post(url.format("bob"), {"name": "dev"}, format="json").status_code == 201
    owner_api.delete(f"/api/v2/workspaces/{first['id']}")
    again = owner_api.post(url.format("alice"), {"name": "dev"}, format="json")
    assert again.status_code == 201 and again.json()["id"] != first["id"]


@pytest.mark.parametrize(
    "body", [{}, {"name": "Dev"}, {"name": "my dev"}, {"name": "a" * 65}],
    ids=["missing", "upper case", "space", "65 characters"],
)  # fmt: skip
def test_bad_workspace_names_are_a_400(owner_api, org, body):
    member(org, username="alice")
    response = owner_api.post(
        "/api/v2/organizations/acme/members/alice/workspaces", body, format="json"
    )
    assert bad_fields(response) == ["name"]


def test_unknown_or_malformed_workspace_ids_are_a_404(owner_api):
    assert owner_api.get(f"/api/v2/workspaces/{uuid.uuid4()}").status_code == 404
    assert owner_api.get("/api/v2/workspaces/dev").status_code == 404
    assert owner_api.delete("/api/v2/workspaces/dev").status_code == 404


# --- logs outlive workspaces and memberships --------------------------------------------

CID_OLD = "11111111-1111-4111-8111-111111111111"
CID_NEW = "22222222-2222-4222-8222-222222222222"


def _ssh(workspace_id, action, time, cid):
    return {
        "action": action,
        "time": time,
        "type": "ssh",
        "workspace_id": workspace_id,
        "agent_name": "main",
        "connection_id": cid,
    }


def _logs(client, q):
    response = client.get("/api/v2/connectionlog", {"q": q})
    assert response.status_code == 200, response.content
    return response.json()["connection_logs"]


def test_logs_of_deleted_workspaces_and_removed_members_stay_readable(owner_api, org):
    """The whole life of a workspace through the API, then reads by id and by owner."""
    member(org, username="alice")
    auditor_api = as_user(member(org, "organization-auditor", username="olga"))
    events = "/api/v2/connectionlog/events"
    url = "/api/v2/organizations/acme/members/alice/workspaces"
    old = owner_api.post(url, {"name": "dev"}, format="json").json()["id"]
    owner_api.post(events, {"events": [_ssh(old, "connect", "2025-07-10T10:00:00Z", CID_OLD)]},
                   format="json")  # fmt: skip
    assert owner_api.delete(f"/api/v2/workspaces/{old}").status_code == 200
    new = owner_api.post(url, {"name": "dev"}, format="json").json()["id"]
    late_disconnect = _ssh(old, "disconnect", "2025-07-10T11:00:00Z", CID_OLD)
    answer = owner_api.post(
        events,
        {"events": [late_disconnect, _ssh(new, "connect", "2025-07-10T12:00:00Z", CID_NEW)]},
        format="json",
    )
    assert answer.json() == {"created": 1, "updated": 1, "unchanged": 0}

    assert owner_api.delete("/api/v2/organizations/acme/members/alice").status_code == 204

    for client in (owner_api, auditor_api):
        [by_old_id] = _logs(client, f"workspace_id:{old}")
        assert (by_old_id["workspace_name"], by_old_id["workspace_owner_username"]) == (
            "dev",
            "alice",
        )
        assert by_old_id["ssh_info"]["disconnect_time"] == "2025-07-10T11:00:00Z"
        [by_new_id] = _logs(client, f"workspace_id:{new}")
        assert by_new_id["ssh_info"] == {"connection_id": CID_NEW}
        by_owner = _logs(client, "workspace_owner:alice")
        assert [entry["workspace_id"] for entry in by_owner] == [new, old]
        completed = _logs(client, "workspace_owner:alice status:completed")
        assert [entry["workspace_id"] for entry in completed] == [old]
        assert owner_api.get(f"/api/v2/workspaces/{old}").json()["deleted"] is True


# --- the OpenAPI schema -----------------------------------------------------------------


def test_every_write_endpoint_is_in_the_openapi_schema(api):
    response = api.get("/api/v2/openapi.json", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        ("/api/v2/connectionlog/events", "post"): "reportConnectionEvents",
        ("/api/v2/users", "post"): "createUser",
        ("/api/v2/users/{user}", "get"): "getUser",
        ("/api/v2/users/{user}/roles", "put"): "updateUserRoles",
        ("/api/v2/organizations", "post"): "createOrganization",
        ("/api/v2/organizations/{org}", "get"): "getOrganization",
        ("/api/v2/organizations/{org}/members/{user}", "post"): "addOrganizationMember",
        ("/api/v2/organizations/{org}/members/{user}", "delete"): "removeOrganizationMember",
        (
            "/api/v2/organizations/{org}/members/{user}/roles",
            "put",
        ): "updateOrganizationMemberRoles",
        ("/api/v2/organizations/{org}/members/{user}/workspaces", "post"): "createWorkspace",
        ("/api/v2/workspaces/{workspace}", "get"): "getWorkspace",
        ("/api/v2/workspaces/{workspace}", "delete"): "deleteWorkspace",
    }
    for (path, method), operation_id in expected.items():
        operation = paths[path][method]
        assert operation["operationId"] == operation_id
        assert any(code.startswith("2") for code in operation["responses"])
        if method in ("post", "put") and operation_id != "addOrganizationMember":
            assert "requestBody" in operation, operation_id
