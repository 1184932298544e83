"""Each page costs a fixed number of queries, whatever the number of rows or the page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from connlogs import roles
from tests.exports import ndjson_entries
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
    member,
)
from tests.web.conftest import signed_in

# Session, user, memberships, header roles, organization and owner menus, rows, count, chart,
# and a cursor or a name lookup, the start view, the saved views' menu, the change feed's end
# (its highest entry and retention's mark, for Follow) and the access-log entry: a page must
# never grow with its rows. On PostgreSQL the chart also asks the catalog whether the log is
# partitioned (its rollup is complete only then), and a search with more matches than the
# count's cap reads its rows newest month first: one query, or two when this month holds
# too few (querysets.first_rows).
LIST_BUDGET = 17
# A search naming a person and an organization adds their lookups, and the rows, the count,
# the chart and the empty-state check then run as for any search: the same work whether or
# not the person exists (a made-up name must not answer sooner than a real one).
SEARCH_BUDGET = 20
# Each read adds one INSERT: its access-log entry (connlogs.accesslog.record).
DETAIL_BUDGET = 7
EXPORT_BUDGET = 6


@pytest.fixture
def busy(db):
    acme = OrganizationFactory(name="acme")
    globex = OrganizationFactory(name="globex")
    now = timezone.now()
    for index in range(120):
        workspace = WorkspaceFactory(organization=acme if index % 2 else globex)
        ConnectionLogFactory(
            workspace=workspace,
            type=["ssh", "workspace_app", "tunnel"][index % 3],
            user=UserFactory() if index % 3 else None,
            connect_time=now - dt.timedelta(minutes=index * 7),
        )
    return {
        "owner": UserFactory(site_roles=[roles.OWNER]),
        "acme_admin": member(acme, roles.ORGANIZATION_ADMIN),
    }


@pytest.mark.parametrize("role", ["owner", "acme_admin"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"per_page": 100},
        {"page": 3},
        {"q": "type:tunnel workspace_owner:me username:nobody organization:acme"},
    ],
)
def test_list_page_budget(busy, role, params, django_assert_max_num_queries):
    client = signed_in(busy[role])
    with django_assert_max_num_queries(SEARCH_BUDGET if "q" in params else LIST_BUDGET):
        response = client.get("/connectionlog", params)
    assert response.status_code == 200


def test_next_page_budget(busy, django_assert_max_num_queries):
    client = signed_in(busy["owner"])
    page = client.get("/connectionlog").context["page"]
    with django_assert_max_num_queries(LIST_BUDGET):
        response = client.get(page.next_url)
    assert response.context["page"].number == 2


def test_invalid_q_page_budget(busy, django_assert_max_num_queries):
    client = signed_in(busy["owner"])
    with django_assert_max_num_queries(LIST_BUDGET):
        assert client.get("/connectionlog", {"q": "type:nope"}).status_code == 400


def test_detail_page_budget(busy, django_assert_max_num_queries):
    from connlogs.models import ConnectionLog

    client = signed_in(busy["owner"])
    row = ConnectionLog.objects.filter(user__isnull=False).first()
    with django_assert_max_num_queries(DETAIL_BUDGET):
        assert client.get(f"/connectionlog/{row.id}").status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_budget_does_not_grow_with_rows(busy, api, fmt, django_assert_max_num_queries):
    api.credentials(**auth_header(busy["owner"]))
    with django_assert_max_num_queries(EXPORT_BUDGET):
        response = api.get("/api/v2/connectionlog/export", {"format": fmt})
        content = b"".join(response.streaming_content).decode()
    if fmt == "ndjson":
        entries = ndjson_entries(content)
        assert len(entries) == 120 and all(entry["id"] for entry in entries)
    else:
        assert len(content.splitlines()) == 121
