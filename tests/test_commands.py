"""The management commands create_token and set_roles."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from connlogs import tokens
from connlogs.models import Membership, User
from tests.factories import UserFactory, member


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- create_token -----------------------------------------------------------------------


def test_create_token_prints_only_a_working_key(db):
    UserFactory(username="gateway", site_roles=["connection-reporter"])
    key = run("create_token", "GATEWAY").strip()
    assert "\n" not in key
    token = tokens.find(key)
    assert token.user.username == "gateway" and token.expires_at is None


def test_create_token_with_a_name_and_a_lifetime(db):
    UserFactory(username="gateway")
    key = run("create_token", "gateway", "--name", "ci", "--lifetime", "3600").strip()
    token = tokens.find(key)
    assert token.name == "ci"
    expected = timezone.now() + dt.timedelta(hours=1)
    assert abs(token.expires_at - expected) < dt.timedelta(minutes=1)


def test_a_created_token_signs_in_to_the_api(db, api):
    UserFactory(username="gateway", site_roles=["connection-reporter"])
    key = run("create_token", "gateway").strip()
    response = api.get("/api/v2/users/me", HTTP_CODER_SESSION_TOKEN=key)
    assert response.status_code == 200 and response.json()["username"] == "gateway"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody"], 'No user "nobody"'),
        (["gateway", "--lifetime", "0"], "--lifetime"),
        (["gateway", "--lifetime", "-5"], "--lifetime"),
        (["gateway", "--name", "x" * 65], "--name"),
    ],
    ids=["unknown user", "zero lifetime", "negative lifetime", "long name"],
)
def test_create_token_refuses_bad_arguments(db, args, message):
    UserFactory(username="gateway")
    with pytest.raises(CommandError, match=message):
        run("create_token", *args)
    assert not User.objects.get(username="gateway").api_tokens.exists()


# --- set_roles --------------------------------------------------------------------------


def test_set_site_roles_replaces_them_and_says_so(db):
    UserFactory(username="alice", site_roles=["auditor"])
    out = run("set_roles", "alice", "--site", "connection-reporter", "owner")
    assert out.strip() == "alice: site roles [auditor] -> [owner, connection-reporter]"
    assert User.objects.get(username="alice").site_roles == ["owner", "connection-reporter"]


def test_set_site_roles_with_no_role_removes_them(db):
    UserFactory(username="alice", site_roles=["auditor"])
    assert "-> []" in run("set_roles", "alice", "--site")
    assert User.objects.get(username="alice").site_roles == []


def test_set_organization_roles_joins_then_changes(db, org):
    UserFactory(username="alice")
    out = run("set_roles", "alice", "--org", "ACME", "--org-role", "organization-admin")
    assert out.strip() == "alice: joined acme with roles [organization-admin]"
    out = run("set_roles", "alice", "--org", str(org.id), "--org-role", "organization-auditor")
    assert out.strip() == "alice in acme: roles [organization-admin] -> [organization-auditor]"
    out = run("set_roles", "alice", "--org", "acme", "--org-role")
    assert out.strip() == "alice in acme: roles [organization-auditor] -> []"
    assert Membership.objects.get(user__username="alice").roles == []


def test_site_and_organization_roles_in_one_call(db, org):
    UserFactory(username="alice")
    run("set_roles", "alice", "--site", "auditor", "--org", "acme", "--org-role",
        "organization-admin")  # fmt: skip
    alice = User.objects.get(username="alice")
    assert alice.site_roles == ["auditor"]
    assert alice.memberships.get().roles == ["organization-admin"]


def test_without_options_it_shows_the_roles(db, org, other_org):
    member(org, "organization-admin", username="alice", site_roles=["auditor"])
    Membership.objects.create(user=User.objects.get(username="alice"), organization=other_org)
    assert run("set_roles", "alice").splitlines() == [
        "alice: site roles [auditor]",
        "alice in acme: roles [organization-admin]",
        "alice in globex: roles []",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody", "--site", "owner"], 'No user "nobody"'),
        (["alice", "--site", "superuser"], "Unknown site role"),
        (["alice", "--site", "organization-admin"], "Unknown site role"),
        (["alice", "--org", "acme", "--org-role", "owner"], "Unknown organization role"),
        (["alice", "--org", "nope", "--org-role", "organization-admin"], 'No organization "nope"'),
        (["alice", "--org-role", "organization-admin"], "--org-role needs --org"),
    ],
    ids=[
        "unknown user",
        "unknown site role",
        "organization role as site role",
        "site role as organization role",
        "unknown organization",
        "org role without org",
    ],
)
def test_set_roles_refuses_bad_arguments_and_changes_nothing(db, org, args, message):
    UserFactory(username="alice", site_roles=["auditor"])
    with pytest.raises(CommandError, match=message):
        run("set_roles", *args)
    alice = User.objects.get(username="alice")
    assert alice.site_roles == ["auditor"] and not alice.memberships.exists()


def test_an_unknown_organization_role_does_not_change_site_roles_either(db, org):
    UserFactory(username="alice")
    with pytest.raises(CommandError):
        run("set_roles", "alice", "--site", "owner", "--org", "acme", "--org-role", "boss")
    assert User.objects.get(username="alice").site_roles == []


def test_the_last_owner_keeps_the_owner_role(db):
    UserFactory(username="root", site_roles=["owner"])
    with pytest.raises(CommandError, match="at least one owner"):
        run("set_roles", "root", "--site", "auditor")
    UserFactory(username="root2", site_roles=["owner"])
    run("set_roles", "root", "--site", "auditor")
    assert User.objects.get(username="root").site_roles == ["auditor"]
