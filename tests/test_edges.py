"""Graceful behaviour at the edges: each ends with a correct answer or a clear error.

* the largest offset, the largest limit, one past each;
* a query that matches nothing, on every door;
* the most values a search takes (500 list items and free words; 50 lengths for
  ``duration``), on each kind of list, and one more: a 400, never the database's refusal;
* times and lengths at the ends of the calendar (year 1, lengths longer than the calendar):
  the rows they mean, on every door, never an overflow;
* an export the client stops reading half-way: nothing left open, the connection still good;
* two admins acting on the same workspace or member at once. Decided: creating the same
  name twice is a 409 for the second (also when truly concurrent); deleting a workspace twice
  is not an error (the first deletion's time stays); replacing roles (PUT) is last write wins,
  since each PUT says the whole new state.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from connlogs import export, roles
from connlogs.models import ConnectionLog, Membership, Workspace
from tests.conftest import requires_postgres
from tests.exports import ndjson_entries
from tests.factories import (
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
    member,
)

LIST = "/api/v2/connectionlog"
EXPORT = "/api/v2/connectionlog/export"
INT32_MAX = 2**31 - 1


def add_rows(workspace: Workspace, count: int) -> None:
    """``count`` SSH rows a second apart, written in one statement."""
    start = timezone.now() - dt.timedelta(days=1)
    ConnectionLog.objects.bulk_create(
        ConnectionLog(
            connect_time=start + dt.timedelta(seconds=number),
            organization_id=workspace.organization_id,
            workspace_owner_id=workspace.owner_id,
            workspace=workspace,
            workspace_name=workspace.name,
            agent_name="main",
            type="ssh",
            connection_id=uuid.uuid4(),
            ip="10.0.0.1",
            disconnect_reason="x" * 200,  # long enough that an export spans several pieces
        )
        for number in range(count)
    )


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(organization=OrganizationFactory(name="acme"), name="dev")


@pytest.fixture
def reader(db, workspace):
    user = UserFactory(username="reader", site_roles=[roles.AUDITOR])
    user.client = APIClient(**auth_header(user))
    return user


# --- offsets and limits ------------------------------------------------------------------


def test_the_largest_offset_is_an_empty_page_with_the_true_count(reader, workspace):
    add_rows(workspace, 3)
    response = reader.client.get(LIST, {"offset": INT32_MAX})
    assert response.status_code == 200
    assert response.json() == {"connection_logs": [], "count": 3, "count_cap": 2000}


def test_one_past_the_largest_offset_is_the_32_bit_error(reader):
    response = reader.client.get(LIST, {"offset": INT32_MAX + 1})
    assert response.status_code == 400
    assert response.json()["validations"] == [
        {
            "field": "offset",
            "detail": 'Query param "offset" must be a valid 32-bit positive integer: '
            'strconv.ParseInt: parsing "2147483648": value out of range',
        }
    ]


def test_the_largest_limit_returns_that_many_rows_newest_first(reader, workspace):
    add_rows(workspace, 1001)
    response = reader.client.get(LIST, {"limit": 1000})
    assert response.status_code == 200
    body = response.json()
    assert len(body["connection_logs"]) == 1000 and body["count"] == 1001
    times = [entry["connect_time"] for entry in body["connection_logs"]]
    assert times == sorted(times, reverse=True)
    rest = reader.client.get(LIST, {"limit": 1000, "after_id": body["connection_logs"][-1]["id"]})
    assert len(rest.json()["connection_logs"]) == 1  # keyset paging reaches the last row


def test_one_past_the_largest_limit_names_the_maximum(reader):
    response = reader.client.get(LIST, {"limit": 1001})
    assert response.status_code == 400
    assert response.json()["validations"] == [
        {"field": "limit", "detail": 'Query param "limit" must be at most 1000'}
    ]


def test_a_page_number_far_past_the_end_is_an_empty_page_not_an_error(reader, workspace):
    add_rows(workspace, 3)
    client = Client()
    client.force_login(reader)
    for page in ("999999999999", str(INT32_MAX)):
        response = client.get("/connectionlog", {"page": page})
        assert response.status_code == 200, page
    for page in ("-5", "x"):  # not page numbers at all: the page names them
        response = client.get("/connectionlog", {"page": page})
        assert response.status_code == 400, page


# --- nothing matches -----------------------------------------------------------------------


def test_a_query_that_matches_nothing_is_an_empty_answer_on_every_door(reader, workspace):
    add_rows(workspace, 2)
    q = "workspace_owner:nobody"
    listed = reader.client.get(LIST, {"q": q})
    assert listed.json() == {"connection_logs": [], "count": 0, "count_cap": 2000}
    csv_body = b"".join(reader.client.get(EXPORT, {"q": q}).streaming_content).decode()
    assert csv_body.splitlines() == [",".join(export.CSV_COLUMNS)]
    ndjson = reader.client.get(EXPORT, {"q": q, "format": "ndjson"})
    assert ndjson.status_code == 200
    assert ndjson_entries(b"".join(ndjson.streaming_content)) == []
    page = Client()
    page.force_login(reader)
    response = page.get("/connectionlog", {"q": q})
    assert response.status_code == 200
    assert b'data-empty="filter"' in response.content


# --- the most values a search takes -------------------------------------------------------

MANY_VALUES = {
    "agent": lambda i: f"agent{i}",
    "-agent": lambda i: f"agent{i}",
    "ip": lambda i: f"10.9.{i // 256}.{i % 256}",
    "-ip": lambda i: f"172.{16 + i // 256}.{i % 256}.0/24",
    "status_code": lambda i: str(100 + i),
    "workspace_owner": lambda i: f"owner{i}",
    "workspace": lambda i: f"owner{i}/ws{i}",
    "workspace_id": lambda i: str(uuid.UUID(int=i)),
    "search": lambda i: f"word{i}",
}


def _many(key: str, count: int) -> str:
    values = [MANY_VALUES[key](i) for i in range(count)]
    return " ".join(values) if key == "search" else f"{key}:{','.join(values)}"


@pytest.mark.parametrize("key", list(MANY_VALUES))
def test_a_search_of_500_values_answers_and_501_is_a_clear_400(reader, workspace, key):
    add_rows(workspace, 2)
    answered = reader.client.get(LIST, {"q": _many(key, 500)})
    assert answered.status_code == 200, answered.content
    assert answered.json()["count"] == (2 if key in ("-agent", "-ip") else 0)
    refused = reader.client.get(LIST, {"q": _many(key, 501)})
    assert refused.status_code == 400
    [error] = refused.json()["validations"]
    assert error["field"] == "q" and "at most 500" in error["detail"]


def test_duration_compares_at_most_50_lengths(reader, workspace):
    """Each length is two conditions nested in the SQL: 50 answer, 51 are a 400 naming the
    key (SQLite refused 500 with its expression depth limit, answered as an outage)."""
    add_rows(workspace, 2)
    lengths = ",".join(f">{minutes}m" for minutes in range(1, 52))
    for key in ("duration", "-duration"):
        fifty = reader.client.get(LIST, {"q": f"{key}:{lengths.rsplit(',', 1)[0]}"})
        assert fifty.status_code == 200, fifty.content
        refused = reader.client.get(LIST, {"q": f"{key}:{lengths}"})
        assert refused.status_code == 400
        [error] = refused.json()["validations"]
        assert error["field"] == key and "at most 50" in error["detail"]


# --- the ends of the calendar ---------------------------------------------------------------

CHANGES = "/api/v2/connectionlog/changes"


@pytest.mark.parametrize(
    ("q", "all_rows"),
    [
        ("active_after:0001-01-01", True),
        ('active_after:"0001-01-01T00:30:00Z"', True),
        ("-active_after:0001-01-01", False),
        ("duration:>200000w", False),
        ("duration:<200000w", True),
        ("duration:>=3652425d", False),
        ("-duration:>=3652425d", True),
        ('connected_after:0001-01-01 connected_before:"9999-12-31T23:59:59Z"', True),
    ],
)
def test_times_and_lengths_at_the_ends_of_the_calendar_answer_on_every_door(
    reader, workspace, q, all_rows
):
    """A bound made from year 1 or from a length longer than the calendar keeps its meaning
    (no session is older than year 1) on the list, the export, the change feed and the
    page with its chart: never a 500."""
    add_rows(workspace, 3)  # ongoing SSH sessions of the last day
    expected = 3 if all_rows else 0
    listed = reader.client.get(LIST, {"q": q})
    assert listed.status_code == 200, listed.content
    assert listed.json()["count"] == expected
    exported = reader.client.get(EXPORT, {"q": q, "format": "ndjson"})
    assert exported.status_code == 200
    assert len(ndjson_entries(b"".join(exported.streaming_content))) == expected
    assert reader.client.get(CHANGES, {"q": q}).status_code == 200
    page = Client()
    page.force_login(reader)
    shown = page.get("/connectionlog", {"q": q})
    assert shown.status_code == 200
    assert (b'data-empty="filter"' in shown.content) is not all_rows


@pytest.mark.parametrize(
    "q", ["duration:<3652426d", "duration:>99999999w", "-duration:>999999999w"]
)
def test_a_length_past_10000_years_is_a_clear_400(reader, workspace, q):
    listed = reader.client.get(LIST, {"q": q})
    assert listed.status_code == 400
    [error] = listed.json()["validations"]
    assert error["field"] == q.partition(":")[0] and "at most 10,000 years" in error["detail"]
    assert reader.client.get(EXPORT, {"q": q}).status_code == 400
    page = Client()
    page.force_login(reader)
    shown = page.get("/connectionlog", {"q": q})
    assert shown.status_code == 400 and b"at most 10,000 years" in shown.content


# --- an export the client abandons ---------------------------------------------------------


def open_server_side_cursors() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        return cursor.fetchone()[0]


def test_an_export_closed_half_way_leaves_nothing_open(reader, workspace, monkeypatch):
    add_rows(workspace, 2500)  # more than one keyset batch of the export
    response = reader.client.get(EXPORT, {"format": "ndjson"})
    pieces = iter(response.streaming_content)
    first = next(pieces)
    assert first.count(b"\n") < 2500  # the client stops well before the end
    if connection.vendor == "postgresql":
        assert open_server_side_cursors() == 0  # keyset batches: nothing held open between
    # What the server does when the client goes away. Its request_finished signal would
    # also recycle the connection, which inside a test is the test's transaction: keep it.
    with monkeypatch.context() as patch:
        patch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)
        response.close()
    assert not connection.errors_occurred  # nothing went wrong on the connection
    assert open_server_side_cursors() == 0
    # The connection is still good, and the next export is whole.
    assert ConnectionLog.objects.count() == 2500
    again = reader.client.get(EXPORT, {"format": "ndjson"})
    entries = ndjson_entries(b"".join(again.streaming_content))
    assert len(entries) == 2500 and entries[-1]["type"] == "ssh"


# --- two admins at once ----------------------------------------------------------------------


@pytest.fixture
def two_admins(db):
    acme = OrganizationFactory(name="acme")
    alice = member(acme, username="alice")
    first = member(acme, roles.ORGANIZATION_ADMIN, username="admin-one")
    second = UserFactory(username="admin-two", site_roles=[roles.OWNER])
    return acme, alice, APIClient(**auth_header(first)), APIClient(**auth_header(second))


def test_deleting_a_workspace_twice_is_not_an_error_and_keeps_the_first_time(two_admins):
    acme, alice, one, two = two_admins
    workspace = WorkspaceFactory(organization=acme, owner=alice, name="dev")
    first = one.delete(f"/api/v2/workspaces/{workspace.id}")
    second = two.delete(f"/api/v2/workspaces/{workspace.id}")
    assert first.status_code == second.status_code == 200
    assert first.json()["deleted"] and second.json()["deleted"]
    workspace.refresh_from_db()
    deleted_at = workspace.deleted_at
    assert deleted_at is not None
    two.delete(f"/api/v2/workspaces/{workspace.id}")
    workspace.refresh_from_db()
    assert workspace.deleted_at == deleted_at


def test_the_same_workspace_name_twice_is_a_409_for_the_second(two_admins):
    acme, alice, one, two = two_admins
    url = "/api/v2/organizations/acme/members/alice/workspaces"
    assert one.post(url, {"name": "dev"}, format="json").status_code == 201
    second = two.post(url, {"name": "dev"}, format="json")
    assert second.status_code == 409
    assert second.json()["validations"] == [
        {"field": "name", "detail": '"alice" already has a workspace named "dev".'}
    ]
    assert Workspace.objects.filter(owner=alice, name="dev").count() == 1


def test_replacing_roles_at_once_is_last_write_wins(two_admins):
    acme, alice, one, two = two_admins
    url = "/api/v2/organizations/acme/members/alice/roles"
    assert one.put(url, {"roles": ["organization-admin"]}, format="json").status_code == 200
    last = two.put(url, {"roles": ["organization-auditor"]}, format="json")
    assert last.status_code == 200
    assert Membership.objects.get(user=alice, organization=acme).roles == ["organization-auditor"]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_truly_concurrent_creates_of_one_name_give_one_201_and_one_409():
    acme = OrganizationFactory(name="acme")
    alice = member(acme, username="alice")
    admins = [
        member(acme, roles.ORGANIZATION_ADMIN, username="admin-one"),
        UserFactory(username="admin-two", site_roles=[roles.OWNER]),
    ]
    headers = [auth_header(admin) for admin in admins]
    start = threading.Barrier(len(admins))
    answers: list[int] = []

    def create(header):
        try:
            start.wait(timeout=10)
            response = APIClient(**header).post(
                "/api/v2/organizations/acme/members/alice/workspaces",
                {"name": "dev"},
                format="json",
            )
            answers.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(header,)) for header in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [201, 409]
    assert Workspace.objects.filter(owner=alice, name="dev").count() == 1
