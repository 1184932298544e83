"""Nobody learns whether a person (or an object) they may not see exists.

A made-up name and the name of someone the caller may not see get the same status, the
same body and the same database work (the same statements, values aside), so neither the
answer nor its time tells them apart. Timing itself is measured by bench/auth_probes.py.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connlogs import roles
from connlogs.models import Membership
from tests.conftest import as_user
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    member,
)

QUOTED = re.compile(r"'(?:[^']|'')*'")
HEX_ID = re.compile(
    r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)
NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def statements(queries) -> list[str]:
    """The statements run, with every value blanked: their shape, not their values."""
    shapes = []
    for query in queries:
        sql = QUOTED.sub("?", query["sql"])
        sql = HEX_ID.sub("?", sql)
        shapes.append(NUMBER.sub("?", sql))
    return shapes


def answer(client, method: str, url: str, body: dict | None = None):
    """(status, body bytes, statement shapes) of one request."""
    with CaptureQueriesContext(connection) as captured:
        response = client.generic(
            method,
            url,
            "" if body is None else json.dumps(body),
            content_type="application/json",
        )
    content = b"".join(response) if response.streaming else response.content
    return response.status_code, content, statements(captured.captured_queries)


@pytest.fixture
def world(db):
    """ada administers acme; gus is in globex only; loner is in no organization."""
    acme, globex = OrganizationFactory(name="acme"), OrganizationFactory(name="globex")
    ada = member(acme, roles.ORGANIZATION_ADMIN, username="ada")
    alice = member(acme, username="alice")
    gus = member(globex, username="gus")
    loner = UserFactory(username="loner")
    globex_ws = WorkspaceFactory(organization=globex, owner=gus, name="api")
    return {"ada": ada, "alice": alice, "gus": gus, "loner": loner, "globex_ws": globex_ws}


def warmed(user) -> Client:
    client = as_user(user)
    client.get("/api/v2/users/me")  # last-seen written now, not during a probe
    return client


# Each door that names a user: {user} is filled with a hidden person or a made-up one.
USER_DOORS = [
    ("POST", "/api/v2/organizations/acme/members/{user}", None),
    ("DELETE", "/api/v2/organizations/acme/members/{user}", None),
    ("PUT", "/api/v2/organizations/acme/members/{user}/roles", {"roles": []}),
    ("POST", "/api/v2/organizations/acme/members/{user}/workspaces", {"name": "probe"}),
    ("GET", "/api/v2/users/{user}", None),
    ("POST", "/api/v2/users/{user}/keys/tokens", {}),
]


@pytest.mark.parametrize(
    "method, path, body", USER_DOORS, ids=[d[0] + " " + d[1] for d in USER_DOORS]
)
@pytest.mark.parametrize("hidden", ["loner", "gus"], ids=["in-no-org", "in-another-org"])
@pytest.mark.parametrize("by", ["name", "id"])
def test_a_hidden_user_answers_like_a_made_up_one(world, method, path, body, hidden, by):
    client = warmed(world["ada"])
    person = world[hidden]
    hidden_ref = person.username if by == "name" else str(person.id)
    made_up_ref = "no-such-person" if by == "name" else str(uuid.uuid4())
    seen = answer(client, method, path.format(user=hidden_ref), body)
    made_up = answer(client, method, path.format(user=made_up_ref), body)
    assert seen[0] == made_up[0] == 404
    assert seen[1] == made_up[1]
    assert seen[2] == made_up[2]
    assert not Membership.objects.filter(user=person, organization__name="acme").exists()


def test_an_organization_admin_adds_a_user_they_can_see(world):
    # ada also administers globex, so she sees gus and may bring him into acme.
    globex = world["globex_ws"].organization
    Membership.objects.create(organization=globex, user=world["ada"], roles=["organization-admin"])
    response = as_user(world["ada"]).post("/api/v2/organizations/acme/members/gus")
    assert response.status_code == 200
    assert as_user(world["ada"]).get("/api/v2/users/gus").status_code == 200


def test_site_owners_still_add_anyone(world, owner_api):
    assert owner_api.post("/api/v2/organizations/acme/members/loner").status_code == 200


def test_a_hidden_workspace_answers_like_a_made_up_one(world):
    client = warmed(world["ada"])
    hidden = answer(client, "GET", f"/api/v2/workspaces/{world['globex_ws'].id}")
    made_up = answer(client, "GET", f"/api/v2/workspaces/{uuid.uuid4()}")
    assert hidden[0] == made_up[0] == 404
    assert hidden[1:] == made_up[1:]


@pytest.mark.parametrize("by", ["name", "id"])
def test_a_hidden_organization_answers_like_a_made_up_one(world, by):
    client = warmed(world["ada"])
    globex = world["globex_ws"].organization
    hidden_ref, made_up_ref = ("globex", "initech") if by == "name" else (globex.id, uuid.uuid4())
    hidden = answer(client, "GET", f"/api/v2/organizations/{hidden_ref}")
    made_up = answer(client, "GET", f"/api/v2/organizations/{made_up_ref}")
    assert hidden[0] == made_up[0] == 404
    assert hidden[1:] == made_up[1:]


# --- the person keys of q: the same work for someone without rows and for nobody ----------

PERSON_KEYS = [
    ("username", "{name}"),
    ("workspace_owner", "{name}"),
    ("user_email", "{name}@example.com"),
    ("workspace_owner_email", "{name}@example.com"),
]
SEARCH_DOORS = {
    "api": "/api/v2/connectionlog?q={q}",
    "export": "/api/v2/connectionlog/export?format=ndjson&q={q}",
    "page": "/connectionlog?q={q}",
}


@pytest.mark.parametrize("door", SEARCH_DOORS)
@pytest.mark.parametrize("key, value", PERSON_KEYS, ids=[key for key, _ in PERSON_KEYS])
def test_person_keys_do_the_same_work_for_nobody(world, owner, door, key, value):
    acme_ws = WorkspaceFactory(organization=world["alice"].memberships.get().organization)
    ConnectionLogFactory(workspace=acme_ws)
    client = warmed(owner)
    client.force_login(owner)
    url = SEARCH_DOORS[door]
    cache.clear()
    client.get(url.format(q="type:ssh"))  # the session is warm
    # A prober tries one made-up name first: that must not make the next one quicker (the
    # page's chart caches its counts by query and values).
    client.get(url.format(q=f"{key}:{value.format(name='ghost-one')}"))
    # "loner" exists and has no rows; "ghost-two" does not exist.
    exists = answer(client, "GET", url.format(q=f"{key}:{value.format(name='loner')}"))
    nobody = answer(client, "GET", url.format(q=f"{key}:{value.format(name='ghost-two')}"))
    assert exists[0] == nobody[0] == 200
    assert exists[2] == nobody[2]
    assert len(exists[2]) >= 2  # the person's lookup, then the rows' query
