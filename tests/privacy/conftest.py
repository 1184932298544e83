"""A small world for data protection mode: two organizations, people, addresses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from connlogs import roles
from connlogs.privacy import pseudonyms
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)


@pytest.fixture(autouse=True)
def fresh_key():
    # Each test's database has its own key row: never reuse one read by an earlier test.
    pseudonyms.forget_key()
    yield
    pseudonyms.forget_key()


@pytest.fixture
def protected(settings):
    settings.CONNLOGS_DATA_PROTECTION = "on"


@pytest.fixture
def people(db):
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    alice = member(acme, username="alice-owner", email="alice@corp.example", name="Alice Liddell")
    bob = member(acme, username="bob-user", email="bob@corp.example", name="Bob Builder")
    gus = member(globex, username="gus-globex", email="gus@corp.example")
    workspace = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    globex_ws = WorkspaceFactory(organization=globex, owner=gus, name="api")
    rows = [
        ConnectionLogFactory(workspace=workspace, type="ssh", ip="203.0.113.10"),
        ConnectionLogFactory(
            workspace=workspace, type="workspace_app", user=bob, code=200, ip="203.0.113.11"
        ),
        ConnectionLogFactory(workspace=globex_ws, type="ssh", ip="203.0.113.12"),
    ]
    return SimpleNamespace(
        acme=acme,
        globex=globex,
        alice=alice,
        bob=bob,
        gus=gus,
        rows=rows,
        auditor=member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        both_auditor=UserFactory(username="site-auditor", site_roles=[roles.AUDITOR]),
        viewer=member(
            acme,
            roles.ORGANIZATION_AUDITOR,
            username="id-viewer",
            site_roles=[roles.IDENTITY_VIEWER],
        ),
        owner=UserFactory(username="root", site_roles=[roles.OWNER]),
    )


# The real identities of the world's rows: none may appear where they are concealed.
REAL = (
    b"alice-owner",
    b"alice@corp.example",
    b"Alice Liddell",
    b"bob-user",
    b"bob@corp.example",
    b"Bob Builder",
    b"203.0.113.10",
    b"203.0.113.11",
)
