"""Model constraints and the audit guarantees: logs survive every deletion."""

import uuid

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from connlogs.models import ConnectionLog, User, Workspace
from tests.factories import (
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
)


def test_connection_key_is_unique(db):
    row = ConnectionLogFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionLogFactory(
            workspace=row.workspace, agent_name=row.agent_name, connection_id=row.connection_id
        )


def test_null_connection_ids_never_collide(db):
    ws = WorkspaceFactory()
    ConnectionLogFactory.create_batch(3, workspace=ws, type="workspace_app", connection_id=None)
    assert ConnectionLog.objects.filter(connection_id__isnull=True).count() == 3


def test_usernames_are_unique_case_insensitively(db):
    UserFactory(username="Alice")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="alice")


def test_emails_are_stored_lower_case_and_unique(db):
    user = UserFactory(email="Mixed@Example.COM")
    assert user.email == "mixed@example.com"
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="MIXED@example.com")


def test_workspace_name_is_unique_per_owner_until_deleted(db):
    ws = WorkspaceFactory(name="dev")
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceFactory(name="dev", owner=ws.owner, organization=ws.organization)
    ws.soft_delete()
    assert WorkspaceFactory(name="dev", owner=ws.owner, organization=ws.organization).pk


@pytest.mark.parametrize("target", ["user", "connecting_user", "workspace", "organization"])
def test_deleting_what_a_log_points_at_is_refused_and_the_row_stays(db, target):
    web_user = UserFactory()
    row = ConnectionLogFactory(type="workspace_app", user=web_user, connection_id=None)
    victim = {
        "user": row.workspace_owner,
        "connecting_user": web_user,
        "workspace": row.workspace,
        "organization": row.organization,
    }[target]
    with pytest.raises(ProtectedError):
        victim.delete()
    kept = ConnectionLog.objects.get(pk=row.pk)
    assert (kept.user_id, kept.workspace_id, kept.workspace_name) == (
        web_user.id,
        row.workspace_id,
        row.workspace_name,
    )


def test_removing_a_membership_keeps_logs(db):
    membership = MembershipFactory()
    ws = WorkspaceFactory(owner=membership.user, organization=membership.organization)
    ConnectionLogFactory(workspace=ws)
    membership.delete()
    assert ConnectionLog.objects.filter(workspace_owner=membership.user).count() == 1


def test_soft_deleted_workspace_keeps_its_logs(db):
    row = ConnectionLogFactory()
    row.workspace.soft_delete()
    assert Workspace.objects.get(pk=row.workspace_id).deleted
    assert ConnectionLog.objects.get(pk=row.pk).workspace_name == row.workspace_name


def test_createsuperuser_makes_a_site_owner(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password")
    call_command(
        "createsuperuser", "--noinput", "--username", "boss", "--email", "boss@example.com"
    )
    boss = User.objects.get(username="boss")
    assert boss.site_roles == ["owner"] and boss.is_staff and boss.check_password("a-long-password")


def test_suspended_users_are_inactive(db):
    assert not UserFactory(status="suspended").is_active


def test_ids_are_uuids(db):
    assert isinstance(OrganizationFactory().id, uuid.UUID)
