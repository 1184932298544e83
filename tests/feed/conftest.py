"""A small world for the change feed: two organizations with a workspace each, readers of
each, and event builders that go through the one writer (``record_events``)."""

from __future__ import annotations

import itertools
import uuid
from types import SimpleNamespace

import pytest

from connlogs import roles
from connlogs.ingest import record_events
from tests.conftest import as_user
from tests.factories import OrganizationFactory, UserFactory, WorkspaceFactory, member

CHANGES = "/api/v2/connectionlog/changes"
_clock = itertools.count()


def at() -> str:
    """A new event time each call (a second apart), all in the past."""
    second = next(_clock)
    return f"2025-07-10T{10 + second // 3600 % 10:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _event(ws, action: str, kind: str, **extra) -> dict:
    return {
        "action": action,
        "time": at(),
        "type": kind,
        "workspace_id": str(ws.id),
        "agent_name": "main",
        **extra,
    }


def connect(ws, cid=None, kind="ssh", **extra) -> dict:
    return _event(ws, "connect", kind, connection_id=str(cid or uuid.uuid4()), **extra)


def disconnect(ws, cid, kind="ssh", **extra) -> dict:
    return _event(ws, "disconnect", kind, connection_id=str(cid), reason="bye", **extra)


def web(ws, kind="workspace_app", status_code=200, **extra) -> dict:
    return _event(ws, "connect", kind, status_code=status_code, **extra)


def record(*events):
    return record_events(list(events))


@pytest.fixture
def world(db):
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    alice = member(acme, username="alice")
    gus = member(globex, username="gus")
    return SimpleNamespace(
        acme=acme,
        globex=globex,
        alice=alice,
        acme_ws=WorkspaceFactory(organization=acme, owner=alice, name="dev"),
        globex_ws=WorkspaceFactory(organization=globex, owner=gus, name="api"),
        owner=UserFactory(username="root", site_roles=[roles.OWNER]),
        acme_auditor=member(acme, roles.ORGANIZATION_AUDITOR, username="acme-auditor"),
        plain=member(acme, username="plain"),
    )


def follow(client, after=None, **params) -> dict:
    """One read of the feed over the API; asserts it answered 200."""
    if after is not None:
        params["after"] = after
    response = client.get(CHANGES, params)
    assert response.status_code == 200, response.content
    return response.json()


def follow_all(client, after=0, **params) -> list[dict]:
    """Every change after ``after``, page by page, until a read answers none."""
    found = []
    while True:
        page = follow(client, after, **params)
        found += page["changes"]
        if not page["changes"] and page["next"] == after:
            return found
        after = page["next"]


@pytest.fixture
def owner_client(world):
    return as_user(world.owner)
