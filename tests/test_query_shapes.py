"""Query shapes chosen for scale (bench/README.md) answer exactly what the plain ones did:
deep pages through the deferred join, usernames through lower(), pages without the columns
nothing shows."""

import datetime as dt

import pytest
from django.utils import timezone

from connlogs.models import ConnectionLog
from tests.factories import (
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
)


@pytest.fixture
def two_orgs_of_rows(db):
    mine, theirs = OrganizationFactory(name="mine"), OrganizationFactory(name="theirs")
    now = timezone.now()
    ws_mine = WorkspaceFactory(organization=mine)
    ws_theirs = WorkspaceFactory(organization=theirs)
    for i in range(30):
        ConnectionLogFactory(
            workspace=ws_mine if i % 3 else ws_theirs,
            connect_time=now - dt.timedelta(minutes=i // 2),
        )
    return mine, theirs


@pytest.mark.parametrize("offset", [0, 1, 7, 19, 25, 40])
def test_page_at_an_offset_is_the_plain_slice(two_orgs_of_rows, offset):
    ordered = ConnectionLog.objects.newest_first()
    expected = [row.id for row in ordered[offset : offset + 5]]
    assert [row.id for row in ConnectionLog.objects.page(offset, 5)] == expected


def test_deep_pages_keep_the_callers_scope_and_filters(two_orgs_of_rows, client_for):
    mine, _ = two_orgs_of_rows
    auditor = MembershipFactory(organization=mine, roles=["organization-auditor"]).user
    visible = list(
        ConnectionLog.objects.filter(organization=mine, type="ssh")
        .newest_first()
        .values_list("id", flat=True)
    )
    response = client_for(auditor).get(
        "/api/v2/connectionlog", {"q": "type:ssh", "offset": 6, "limit": 5}
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["connection_logs"]] == [
        str(i) for i in visible[6:11]
    ]
    assert response.json()["count"] == len(visible) == 20


def test_username_search_ignores_case_of_the_stored_name(db, owner_api):
    alice = UserFactory(username="Alice-Smith")
    row = ConnectionLogFactory(type="workspace_app", user=alice)
    ConnectionLogFactory(type="workspace_app", user=UserFactory(username="bob"))
    for q in ("username:alice-smith", "username:ALICE-SMITH", "workspace_owner:nobody"):
        found = owner_api.get("/api/v2/connectionlog", {"q": q}).json()["connection_logs"]
        assert [r["id"] for r in found] == ([str(row.id)] if "alice" in q.lower() else [])


def test_a_page_is_a_fixed_number_of_queries_whatever_it_shows(
    db, owner_api, django_assert_max_num_queries
):
    users = UserFactory.create_batch(5)
    for i in range(40):
        ConnectionLogFactory(
            type="workspace_app" if i % 2 else "ssh", user=users[i % 5] if i % 2 else None
        )
    owner_api.get("/api/v2/connectionlog")  # token last-seen write happens once a minute
    # token, count, rows, memberships, and the access-log entry's INSERT; past the count's
    # cap, the rows in one query or two (newest month first: querysets.first_rows)
    with django_assert_max_num_queries(6):
        page = owner_api.get("/api/v2/connectionlog", {"limit": 40}).json()
    web = [r for r in page["connection_logs"] if "web_info" in r]
    assert len(web) == 20 and all(r["web_info"]["user"]["email"] for r in web)
    assert all(r["workspace_owner_username"] for r in page["connection_logs"])
