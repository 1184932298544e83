"""Saved views' world: two organizations, a person of every role, a log row in each."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from connlogs import roles
from connlogs.savedviews.models import SavedView, Sharing
from tests.conftest import as_user
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

VIEWS = "/api/v2/connectionlog/views"
ROLES = (
    "anonymous",
    "target",
    "member",
    "acme_auditor",
    "acme_admin",
    "globex_auditor",
    "globex_admin",
    "site_auditor",
    "reporter",
    "owner",
)


def view_url(view) -> str:
    return f"{VIEWS}/{getattr(view, 'id', view)}"


@pytest.fixture
def world(db):
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    people = {
        "target": member(acme, username="target"),
        "member": member(acme, username="plain"),
        "acme_auditor": member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        "acme_admin": member(acme, roles.ORGANIZATION_ADMIN, username="acme-admin"),
        "globex_auditor": member(globex, roles.ORGANIZATION_AUDITOR, username="globex-auditor"),
        "globex_admin": member(globex, roles.ORGANIZATION_ADMIN, username="globex-admin"),
        "site_auditor": UserFactory(username="site-auditor", site_roles=[roles.AUDITOR]),
        "reporter": UserFactory(username="reporter", site_roles=[roles.CONNECTION_REPORTER]),
        "owner": UserFactory(username="root", site_roles=[roles.OWNER]),
    }
    rows = {
        "acme": ConnectionLogFactory(workspace=WorkspaceFactory(organization=acme, name="dev")),
        "globex": ConnectionLogFactory(workspace=WorkspaceFactory(organization=globex, name="api")),
    }
    return SimpleNamespace(acme=acme, globex=globex, people=people, rows=rows)


def client(world, role: str):
    if role == "anonymous":
        return APIClient()
    return as_user(world.people[role])


@pytest.fixture
def views(world):
    """One view of each sharing: the target's own, acme's (by its admin), everyone's."""
    people = world.people
    return SimpleNamespace(
        personal=SavedView.objects.create(name="mine", q="type:ssh", owner=people["target"]),
        acme=SavedView.objects.create(
            name="acme ssh",
            q="type:ssh",
            sharing=Sharing.ORGANIZATION,
            organization=world.acme,
            owner=people["acme_admin"],
        ),
        everyone=SavedView.objects.create(
            name="all", q="", sharing=Sharing.EVERYONE, owner=people["owner"]
        ),
    )
