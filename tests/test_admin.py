"""The Django admin: owners only, logs read-only, large-table safe, deletes refused by logs."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connlogs import roles, tokens
from connlogs.models import ApiToken, ConnectionLog, Membership, Organization, User, Workspace
from tests.factories import (
    PASSWORD,
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

pytestmark = pytest.mark.django_db

LOG_LIST = "admin:connlogs_connectionlog_changelist"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def workspace(org):
    owner = member(org, username="wsowner")
    return WorkspaceFactory(organization=org, owner=owner, name="dev")


@pytest.fixture
def logs(workspace):
    return [
        ConnectionLogFactory(workspace=workspace, type="ssh"),
        ConnectionLogFactory(workspace=workspace, type="vscode"),
        ConnectionLogFactory(
            workspace=workspace,
            type="workspace_app",
            user=workspace.owner,
            code=502,
            user_agent="<script>alert(1)</script>",
        ),
    ]


def _counts_of_log_table(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and ConnectionLog._meta.db_table in q["sql"]
    ]


# --- the connection-log list on a big table -----------------------------------------


def test_log_changelist_never_counts_the_whole_table(owner_client, logs):
    with CaptureQueriesContext(connection) as captured:
        response = owner_client.get(reverse(LOG_LIST))
    assert response.status_code == 200
    counts = _counts_of_log_table(captured.captured_queries)
    # The paginator still counts, but only up to its cap, in a LIMITed subquery.
    assert counts, "expected the capped count query"
    for sql in counts:
        assert re.search(r"LIMIT\s+\d+", sql), f"unbounded count: {sql}"
    for row in logs:
        assert str(row.workspace_name) in response.content.decode()


def test_log_changelist_filters_and_search_also_count_capped(owner_client, logs):
    url = reverse(LOG_LIST)
    for query in ("?type__exact=ssh", "?status=ongoing", "?q=type%3Assh+workspace_owner%3Awsowner"):
        with CaptureQueriesContext(connection) as captured:
            response = owner_client.get(url + query)
        assert response.status_code == 200, query
        for sql in _counts_of_log_table(captured.captured_queries):
            assert re.search(r"LIMIT\s+\d+", sql), f"unbounded count for {query}: {sql}"


def test_log_changelist_says_more_than_the_cap(owner_client, logs, settings, monkeypatch):
    from connlogs.admin.logs import ConnectionLogAdmin

    settings.CONNLOGS_ADMIN_COUNT_CAP = 2
    monkeypatch.setattr(ConnectionLogAdmin, "list_per_page", 1)
    response = owner_client.get(reverse(LOG_LIST))
    text = response.content.decode()
    assert "More than 2 connection logs" in text
    # Page links stop at the cap: two pages of one row, newest first.
    assert len(response.context["cl"].result_list) == 1
    assert response.context["cl"].paginator.num_pages == 2


def test_log_changelist_counts_exactly_below_the_cap(owner_client, logs):
    response = owner_client.get(reverse(LOG_LIST))
    text = response.content.decode()
    assert "3 connection logs" in text
    assert "More than" not in text


def test_log_search_uses_the_api_search_language(owner_client, logs):
    response = owner_client.get(reverse(LOG_LIST), {"q": "type:vscode"})
    shown = list(response.context["cl"].result_list)
    assert [row.type for row in shown] == ["vscode"]


def test_log_search_by_connection_or_workspace_uuid(owner_client, logs, workspace):
    ssh = logs[0]
    response = owner_client.get(reverse(LOG_LIST), {"q": str(ssh.connection_id)})
    assert [row.id for row in response.context["cl"].result_list] == [ssh.id]
    response = owner_client.get(reverse(LOG_LIST), {"q": str(workspace.id)})
    assert len(response.context["cl"].result_list) == 3


def test_log_search_with_a_bad_query_shows_the_contract_error(owner_client, logs):
    response = owner_client.get(reverse(LOG_LIST), {"q": "type:telnet"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    messages = [str(m) for m in response.context["messages"]]
    assert any("type" in m and "telnet" in m for m in messages)


def test_log_change_page_escapes_agent_supplied_text(owner_client, logs):
    web = logs[2]
    response = owner_client.get(reverse("admin:connlogs_connectionlog_change", args=[web.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# --- logs are read-only -------------------------------------------------------------


def test_logs_cannot_be_added(owner_client):
    assert owner_client.get(reverse("admin:connlogs_connectionlog_add")).status_code == 403


def test_logs_cannot_be_changed(owner_client, logs):
    row = logs[0]
    url = reverse("admin:connlogs_connectionlog_change", args=[row.pk])
    page = owner_client.get(url)
    assert page.status_code == 200  # owners may view
    assert 'name="_save"' not in page.content.decode()
    response = owner_client.post(url, {"agent_name": "rewritten", "type": "tunnel"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.agent_name == "main" and row.type == "ssh"


def test_logs_cannot_be_deleted(owner_client, logs):
    row = logs[0]
    url = reverse("admin:connlogs_connectionlog_delete", args=[row.pk])
    assert owner_client.get(url).status_code == 403
    assert owner_client.post(url, {"post": "yes"}).status_code == 403
    # Nor in bulk: there is no delete action to choose.
    response = owner_client.post(
        reverse(LOG_LIST),
        {"action": "delete_selected", "_selected_action": [str(r.pk) for r in logs], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert ConnectionLog.objects.count() == 3


# --- who gets in --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda org: UserFactory(site_roles=[roles.AUDITOR]),
        lambda org: UserFactory(site_roles=[roles.CONNECTION_REPORTER]),
        lambda org: member(org, roles.ORGANIZATION_ADMIN),
        lambda org: member(org, roles.ORGANIZATION_AUDITOR),
        lambda org: member(org),
    ],
    ids=["auditor", "reporter", "org-admin", "org-auditor", "member"],
)
def test_non_owners_get_no_admin(client, org, make):
    user = make(org)
    client.force_login(user)
    for url in ("/admin/", reverse(LOG_LIST), reverse("admin:connlogs_user_changelist")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))


def test_non_owner_cannot_sign_in_to_the_admin(client):
    UserFactory(username="audrey", site_roles=[roles.AUDITOR])
    response = client.post(
        reverse("admin:login"), {"username": "audrey", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert "staff account" in response.content.decode()


def test_owner_signs_in_to_the_admin(client, owner):
    response = client.post(
        reverse("admin:login"), {"username": "root", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# --- every admin page renders ---------------------------------------------------------


@pytest.fixture
def one_of_each(logs, workspace, org):
    token_user = UserFactory(username="tokenuser")
    tokens.issue(token_user, name="ci")
    return {
        "user": workspace.owner,
        "organization": org,
        "membership": Membership.objects.get(user=workspace.owner),
        "workspace": workspace,
        "connectionlog": logs[0],
        "apitoken": ApiToken.objects.get(user=token_user),
    }


@pytest.mark.parametrize(
    "model", ["user", "organization", "membership", "workspace", "connectionlog", "apitoken"]
)
def test_changelist_and_change_page_render_for_owner(owner_client, one_of_each, model):
    obj = one_of_each[model]
    assert owner_client.get(reverse(f"admin:connlogs_{model}_changelist")).status_code == 200
    response = owner_client.get(reverse(f"admin:connlogs_{model}_change", args=[obj.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize("model", ["user", "organization", "membership", "workspace"])
def test_add_page_renders_for_owner(owner_client, model):
    assert owner_client.get(reverse(f"admin:connlogs_{model}_add")).status_code == 200


def test_changelist_search_renders(owner_client, one_of_each):
    for model, term in [("user", "wsowner"), ("workspace", "dev"), ("apitoken", "tokenuser")]:
        response = owner_client.get(reverse(f"admin:connlogs_{model}_changelist"), {"q": term})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 1, model


# --- users ----------------------------------------------------------------------------


def test_owner_adds_a_user_with_a_password_and_site_roles(owner_client):
    response = owner_client.post(
        reverse("admin:connlogs_user_add"),
        {
            "username": "newbie",
            "email": "NewBie@Example.com",
            "name": "New Bie",
            "site_roles": [roles.AUDITOR, roles.CONNECTION_REPORTER],
            "usable_password": "true",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.com"
    assert user.site_roles == [roles.AUDITOR, roles.CONNECTION_REPORTER]
    assert user.check_password("a-long-enough-password")


def test_add_user_rejects_an_unknown_role_and_a_username_differing_in_case(owner_client):
    UserFactory(username="Taken")
    response = owner_client.post(
        reverse("admin:connlogs_user_add"),
        {
            "username": "taken",
            "email": "x@example.com",
            "site_roles": ["superhero"],
            "usable_password": "true",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "username" in errors and "site_roles" in errors
    assert not User.objects.filter(email="x@example.com").exists()


def _change_data(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "site_roles": list(user.site_roles),
        "status": user.status,
        "login_type": user.login_type,
        "last_seen_at_0": user.last_seen_at.strftime("%Y-%m-%d"),
        "last_seen_at_1": user.last_seen_at.strftime("%H:%M:%S"),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_owner_edits_site_roles(owner_client):
    user = UserFactory(username="editme")
    response = owner_client.post(
        reverse("admin:connlogs_user_change", args=[user.pk]),
        _change_data(user, site_roles=[roles.CONNECTION_REPORTER, roles.AUDITOR]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.site_roles == [roles.AUDITOR, roles.CONNECTION_REPORTER]


def test_owner_cannot_remove_their_own_owner_role(owner_client, owner):
    response = owner_client.post(
        reverse("admin:connlogs_user_change", args=[owner.pk]),
        _change_data(owner, site_roles=[roles.AUDITOR]),
    )
    assert response.status_code == 200
    assert "site_roles" in response.context["adminform"].form.errors
    owner.refresh_from_db()
    assert roles.OWNER in owner.site_roles


def test_owner_sets_a_users_password(owner_client):
    user = UserFactory(username="forgetful")
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(
        url,
        {
            "usable_password": "true",
            "password1": "brand-new-password",
            "password2": "brand-new-password",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-password")


# --- memberships ---------------------------------------------------------------------


def test_owner_adds_a_membership_with_roles(owner_client, org):
    user = UserFactory(username="joiner")
    response = owner_client.post(
        reverse("admin:connlogs_membership_add"),
        {"user": str(user.pk), "organization": str(org.pk), "roles": [roles.ORGANIZATION_AUDITOR]},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=user, organization=org).roles == [roles.ORGANIZATION_AUDITOR]


def test_owner_edits_member_roles_inline_on_the_organization(owner_client, org):
    membership = MembershipFactory(organization=org, roles=[])
    response = owner_client.post(
        reverse("admin:connlogs_organization_change", args=[org.pk]),
        {
            "name": org.name,
            "display_name": org.display_name,
            "description": "",
            "icon": "",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(membership.pk),
            "memberships-0-organization": str(org.pk),
            "memberships-0-user": str(membership.user_id),
            "memberships-0-roles": [roles.ORGANIZATION_ADMIN, roles.ORGANIZATION_AUDITOR],
        },
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.roles == [roles.ORGANIZATION_ADMIN, roles.ORGANIZATION_AUDITOR]


# --- API tokens --------------------------------------------------------------------------


def test_token_pages_never_show_the_hash(owner_client):
    user = UserFactory(username="holder")
    tokens.issue(user, name="laptop")
    token = ApiToken.objects.get(user=user)
    for url in (
        reverse("admin:connlogs_apitoken_changelist"),
        reverse("admin:connlogs_apitoken_change", args=[token.pk]),
    ):
        text = owner_client.get(url).content.decode()
        assert token.hashed_secret not in text
        assert "laptop" in text


def test_tokens_cannot_be_added_or_changed(owner_client):
    user = UserFactory(username="holder")
    tokens.issue(user, name="laptop")
    token = ApiToken.objects.get(user=user)
    assert owner_client.get(reverse("admin:connlogs_apitoken_add")).status_code == 403
    url = reverse("admin:connlogs_apitoken_change", args=[token.pk])
    assert owner_client.post(url, {"name": "renamed"}).status_code == 403
    token.refresh_from_db()
    assert token.name == "laptop"


def test_deleting_a_token_revokes_it(owner_client):
    user = UserFactory(username="holder")
    key = tokens.issue(user, name="laptop")
    token = ApiToken.objects.get(user=user)
    response = owner_client.post(
        reverse("admin:connlogs_apitoken_delete", args=[token.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert tokens.find(key) is None


# --- deleting what logs point at ---------------------------------------------------------


@pytest.mark.parametrize("model", ["organization", "user", "workspace"])
def test_deleting_what_logs_point_at_is_refused(owner_client, logs, workspace, model):
    target = {
        "organization": workspace.organization,
        "user": workspace.owner,
        "workspace": workspace,
    }[model]
    url = reverse(f"admin:connlogs_{model}_delete", args=[target.pk])
    with CaptureQueriesContext(connection) as captured:
        page = owner_client.get(url)
    assert page.status_code == 200
    # The refusal is decided by capped counts, never by loading every protecting log row.
    for query in captured.captured_queries:
        if ConnectionLog._meta.db_table in query["sql"]:
            assert re.search(r"LIMIT\s+\d+", query["sql"]), query["sql"]
    text = page.content.decode()
    assert "Cannot delete" in text
    assert "connection log rows" in text
    response = owner_client.post(url, {"post": "yes"})
    assert response.status_code == 200  # the same refusal, not a 500 and not a redirect
    assert type(target).objects.filter(pk=target.pk).exists()
    assert ConnectionLog.objects.count() == len(logs)


def test_deleting_a_user_who_only_made_web_requests_is_refused(owner_client, logs):
    visitor = UserFactory(username="visitor")
    ConnectionLogFactory(workspace=logs[0].workspace, type="port_forwarding", user=visitor)
    response = owner_client.post(
        reverse("admin:connlogs_user_delete", args=[visitor.pk]), {"post": "yes"}
    )
    assert response.status_code == 200
    assert "web requests made by this user" in response.content.decode()
    assert User.objects.filter(pk=visitor.pk).exists()


def test_bulk_delete_action_is_refused_too(owner_client, logs, workspace):
    other = OrganizationFactory(name="spare")
    response = owner_client.post(
        reverse("admin:connlogs_organization_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(workspace.organization_id), str(other.pk)],
            "post": "yes",
        },
    )
    assert response.status_code == 200
    assert "Cannot delete" in response.content.decode()
    assert Organization.objects.filter(pk__in=[workspace.organization_id, other.pk]).count() == 2


def test_things_without_logs_can_be_deleted(owner_client, org):
    workspace = WorkspaceFactory(organization=org, owner=member(org), name="scratch")
    response = owner_client.post(
        reverse("admin:connlogs_workspace_delete", args=[workspace.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_mark_deleted_action_soft_deletes_and_keeps_logs(owner_client, logs, workspace):
    response = owner_client.post(
        reverse("admin:connlogs_workspace_changelist"),
        {"action": "mark_deleted", "_selected_action": [str(workspace.pk)]},
    )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.deleted and workspace.deleted_at is not None
    assert ConnectionLog.objects.filter(workspace=workspace).count() == 3


def test_workspace_owner_must_be_a_member(owner_client, org):
    outsider = UserFactory(username="outsider")
    response = owner_client.post(
        reverse("admin:connlogs_workspace_add"),
        {"organization": str(org.pk), "owner": str(outsider.pk), "name": "nope"},
    )
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    assert not Workspace.objects.filter(name="nope").exists()


def test_unknown_log_id_is_a_redirect_not_an_error(owner_client):
    response = owner_client.get(reverse("admin:connlogs_connectionlog_change", args=[uuid.uuid4()]))
    assert response.status_code == 302


@pytest.mark.parametrize(
    "name,query",
    [
        ("connlogs_connectionlog", "type__exact=%00"),
        ("connlogs_connectionlog", "q=%00"),
        ("connlogs_connectionlog", "organization__id__exact=a%00"),
        ("connlogs_user", "q=a%00b"),
        ("connlogs_user", "status__exact=%00"),
        ("connlogs_organization", "q=%00"),
        ("connlogs_membership", "q=%00"),
        ("connlogs_workspace", "owner__username=a%00"),
        ("connlogs_apitoken", "q=%00"),
    ],
)
def test_nul_in_an_admin_filter_or_search_is_a_400_not_a_500(owner_client, logs, name, query):
    # PostgreSQL refuses NUL in text, so any value reaching a query would fail there.
    response = owner_client.get(reverse(f"admin:{name}_changelist") + "?" + query)
    assert response.status_code == 400
    assert "Null characters are not allowed" in response.content.decode()


def test_nul_in_the_admin_autocomplete_is_a_400(owner_client):
    response = owner_client.get(reverse("admin:autocomplete") + "?term=%00")
    assert response.status_code == 400
