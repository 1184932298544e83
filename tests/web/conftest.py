"""Fixtures of the page tests: two organizations, a user per role, rows in each."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from connlogs import roles
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

ROW_LINK = re.compile(r'data-href="/connectionlog/([0-9a-f-]{36})"')


@pytest.fixture(autouse=True)
def fresh_cache():
    # The chart keeps its buckets in the cache for a while: each test starts without them.
    cache.clear()
    yield
    cache.clear()


def signed_in(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def row_ids(response) -> list[str]:
    """The log ids the list page shows, in order."""
    return ROW_LINK.findall(response.content.decode())


@pytest.fixture
def world(db):
    """acme (3 rows) and globex (2 rows), and one user per role."""
    acme = OrganizationFactory(name="acme", display_name="Acme")
    globex = OrganizationFactory(name="globex", display_name="Globex")
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    acme_ws = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    globex_ws = WorkspaceFactory(organization=globex, owner=bob, name="api")
    now = timezone.now()
    acme_rows = [
        ConnectionLogFactory(
            workspace=acme_ws,
            type="ssh",
            connect_time=now - dt.timedelta(hours=2),
            disconnect_time=now - dt.timedelta(hours=1, minutes=48),
            code=0,
            disconnect_reason="client disconnected",
            ip="10.1.2.3",
        ),
        ConnectionLogFactory(
            workspace=acme_ws, type="vscode", connect_time=now - dt.timedelta(minutes=40)
        ),
        ConnectionLogFactory(
            workspace=acme_ws,
            type="workspace_app",
            connect_time=now - dt.timedelta(minutes=10),
            code=404,
            slug_or_port="code-server",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
        ),
    ]
    globex_rows = [
        ConnectionLogFactory(
            workspace=globex_ws,
            type="jetbrains",
            connect_time=now - dt.timedelta(hours=3),
            disconnect_time=now - dt.timedelta(hours=2),
            code=137,
            disconnect_reason="killed",
        ),
        ConnectionLogFactory(
            workspace=globex_ws,
            type="tunnel",
            connect_time=now - dt.timedelta(minutes=5),
            code=101,
            user=alice,
        ),
    ]
    people = {
        "owner": UserFactory(username="root", site_roles=[roles.OWNER]),
        "site_auditor": UserFactory(username="auditor", site_roles=[roles.AUDITOR]),
        "acme_admin": member(acme, roles.ORGANIZATION_ADMIN, username="acme-admin"),
        "acme_auditor": member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        "globex_auditor": member(globex, roles.ORGANIZATION_AUDITOR, username="globex-auditor"),
        "member": member(acme, username="plain"),
    }
    return SimpleNamespace(
        acme=acme,
        globex=globex,
        alice=alice,
        bob=bob,
        acme_ws=acme_ws,
        globex_ws=globex_ws,
        acme_rows=acme_rows,
        globex_rows=globex_rows,
        people=people,
        now=now,
    )


def newest_first(rows) -> list[str]:
    return [str(row.id) for row in sorted(rows, key=lambda r: (r.connect_time, r.id), reverse=True)]


# Who sees which organization's rows (None: the list page is refused).
VISIBILITY = {
    "owner": ("acme", "globex"),
    "site_auditor": ("acme", "globex"),
    "acme_admin": ("acme",),
    "acme_auditor": ("acme",),
    "globex_auditor": ("globex",),
    "member": None,
}


def expected_ids(world, role: str) -> list[str]:
    rows = []
    for name in VISIBILITY[role] or ():
        rows += getattr(world, f"{name}_rows")
    return newest_first(rows)
