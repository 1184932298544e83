"""The export's fast path says byte for byte what the read API's entry says, row for row.

The export reads plain column tuples in keyset batches and resolves organizations and users
through per-export caches; the read API shapes model instances. Both go through the same
entry function (api/serializers.py), and these tests hold them together on a dataset that
walks every branch of the shape: the seven types, missing and present IPs, users, codes,
disconnects and reasons, text that JSON or CSV must escape, and many rows sharing one
connect time so that batch boundaries fall inside ties.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import random
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connlogs import export, roles
from connlogs.api.serializers import connection_log_entries
from connlogs.export import rows as export_rows
from connlogs.models import ConnectionLog, ConnectionType
from tests.exports import ndjson_entries, split_provenance
from tests.factories import (
    ConnectionLogFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
    WorkspaceFactory,
    auth_header,
    member,
)

URL = "/api/v2/connectionlog/export"
TEXTS = [
    "",
    "client disconnected",
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-1",
    "@SUM(A1)",
    'line\nbreak, "quoted", tab\there',
    "ünïcode ✓ 組織 \u2028 \u00e9",
    "back\\slash and \x1f control",
    "x" * 300,
]
BASE = dt.datetime(2025, 7, 10, 10, 14, 38, 942776, tzinfo=dt.UTC)


@pytest.fixture
def dataset(db):
    """About 200 rows covering every branch of the entry; returns the owner who reads all."""
    rng = random.Random(20251127)
    orgs = [
        OrganizationFactory(name="acme", display_name="Acme", icon="/icon/acme.svg"),
        OrganizationFactory(name="globex", display_name='Glöbex "Intl", Ltd'),
        OrganizationFactory(name="initech", display_name=""),
    ]
    people = [
        UserFactory(username="alice", name="Alice", site_roles=[roles.OWNER]),
        UserFactory(username="Bob-2", name='Bob "B" Ünïcode', site_roles=[roles.AUDITOR]),
        UserFactory(username="carol", name="", site_roles=["unknown-role"]),
        UserFactory(username="dave", avatar_url="https://example.com/a.png", status="dormant"),
    ]
    # Users' organization_ids: none, one, several (each caller sees those it may see).
    for person, organizations in zip(people[1:], ([orgs[0]], orgs, orgs[1:]), strict=True):
        for organization in organizations:
            MembershipFactory(user=person, organization=organization)
    workspaces = [
        WorkspaceFactory(organization=org, owner=owner, name=f"ws-{i}")
        for i, (org, owner) in enumerate((o, p) for o in orgs for p in people[:3])
    ]
    workspaces[-1].soft_delete()
    times = [BASE - dt.timedelta(seconds=n) for n in range(6)] + [
        BASE.replace(microsecond=0),
        BASE.replace(microsecond=500000),
        dt.datetime(2001, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    ]
    types = list(ConnectionType.values)
    for index in range(200):
        kind = types[index % len(types)]
        web = kind in ("workspace_app", "port_forwarding", "tunnel")
        connect = rng.choice(times)  # many rows share a time: ties cross batch borders
        disconnected = not web and rng.random() < 0.6
        ConnectionLogFactory(
            workspace=rng.choice(workspaces),
            type=kind,
            connect_time=connect,
            ip=rng.choice([None, "10.1.2.3", "::1", "fd7a:115c:a1e0::1a", "127.0.0.1"]),
            user=rng.choice([None, *people]) if web or index % 11 == 0 else None,
            code=rng.choice([None, 0, -1, 255, 101, 404, 599]),
            user_agent=rng.choice(TEXTS) if web else "",
            slug_or_port=rng.choice(["", "code-server", "8080", "@app", "-5"]) if web else "",
            disconnect_time=connect + dt.timedelta(minutes=rng.randrange(0, 90))
            if disconnected
            else None,
            disconnect_reason=rng.choice(TEXTS) if not web else "",
            agent_name=rng.choice(["main", "ägent", "=calc"]),
        )
    return people[0]


@pytest.fixture
def small_batches(monkeypatch):
    # A batch of 7 puts boundaries inside runs of equal connect times.
    monkeypatch.setattr(export_rows, "CHUNK_SIZE", 7)


def streamed(response) -> bytes:
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content)


def reference_rows():
    """The rows as the read API loads them: model instances, newest first, joined."""
    return list(ConnectionLog.objects.newest_first().with_related())


def reference_ndjson(rows, viewer) -> bytes:
    lines = (
        json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        for entry in connection_log_entries(rows, viewer)
    )
    return "".join(lines).encode("utf-8")


def reference_csv(rows, viewer) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(export.CSV_COLUMNS)
    for entry in connection_log_entries(rows, viewer):
        writer.writerow(export.csv_cells(entry))
    return out.getvalue().encode("utf-8")


def test_ndjson_is_byte_for_byte_the_entry_of_each_row(dataset, small_batches, api):
    api.credentials(**auth_header(dataset))
    expected = reference_ndjson(reference_rows(), dataset)
    content, provenance = split_provenance(streamed(api.get(URL, {"format": "ndjson"})))
    assert content == expected
    assert provenance["sha256"] == hashlib.sha256(expected).hexdigest()
    assert b'"organization_ids":["' in expected  # users with organizations are in it


def test_every_ndjson_line_equals_the_read_apis_entry_for_that_row(dataset, small_batches, api):
    api.credentials(**auth_header(dataset))
    entries = ndjson_entries(streamed(api.get(URL, {"format": "ndjson"})))
    listed = api.get("/api/v2/connectionlog", {"limit": 1000}).json()["connection_logs"]
    assert len(entries) == len(listed) == 200
    assert entries == listed


def test_csv_is_byte_for_byte_the_cells_of_each_rows_entry(dataset, small_batches, api):
    api.credentials(**auth_header(dataset))
    assert streamed(api.get(URL, {"format": "csv"})) == reference_csv(reference_rows(), dataset)


@pytest.mark.parametrize(
    "q",
    [
        "",
        "type:ssh",
        "status:completed",
        "username:alice",
        'connected_after:"2025-07-10T10:14:36Z"',
    ],
)
def test_scoped_and_filtered_exports_are_the_apis_rows(dataset, small_batches, api, q):
    auditor = member(ConnectionLog.objects.first().organization, roles.ORGANIZATION_AUDITOR)
    api.credentials(**auth_header(auditor))
    entries = ndjson_entries(streamed(api.get(URL, {"format": "ndjson", "q": q})))
    listed = api.get("/api/v2/connectionlog", {"limit": 1000, "q": q}).json()["connection_logs"]
    assert entries == listed
    assert listed  # the case is not vacuous


def test_rows_come_in_keyset_batches_and_names_are_looked_up_once(dataset, small_batches, api):
    api.credentials(**auth_header(dataset))
    with CaptureQueriesContext(connection) as captured:
        assert streamed(api.get(URL, {"format": "ndjson"})).count(b"\n") == 200 + 1
    sqls = [q["sql"] for q in captured.captured_queries]
    row_reads = [sql for sql in sqls if 'FROM "connlogs_connectionlog"' in sql]
    assert len(row_reads) == 29  # ceil(200 / 7): the last, short batch ends it
    assert all("LIMIT 7" in sql for sql in row_reads)
    assert all("JOIN" not in sql for sql in row_reads)
    # Only the rows after the previous batch's last one: an index walk, not an offset.
    assert all("OFFSET" not in sql for sql in row_reads)
    assert sum(" < " in sql for sql in row_reads) == 28
    # Three organizations and four users: a few bulk lookups, never one per row or batch.
    org_reads = [sql for sql in sqls if 'FROM "connlogs_organization"' in sql]
    user_reads = [sql for sql in sqls if 'FROM "connlogs_user"' in sql and "apitoken" not in sql]
    assert 1 <= len(org_reads) <= 3 and len(user_reads) <= 5
    # The users' organization_ids: one lookup per batch that names new users, at most.
    membership_reads = [sql for sql in sqls if 'FROM "connlogs_membership"' in sql]
    assert 1 <= len(membership_reads) <= 4


@pytest.mark.django_db(transaction=True)
def test_no_cursor_or_transaction_is_held_between_batches(dataset, small_batches, api):
    api.credentials(**auth_header(dataset))
    pieces = iter(api.get(URL, {"format": "ndjson"}).streaming_content)
    next(pieces)  # the export is under way, between two batches
    assert not connection.in_atomic_block
    if connection.vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        assert connection.connection.info.transaction_status == TransactionStatus.IDLE
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors")
            assert cursor.fetchone()[0] == 0
    else:
        assert not connection.connection.in_transaction
    assert sum(piece.count(b"\n") for piece in pieces) > 0  # and it goes on


def test_a_row_whose_user_is_missing_from_the_page_still_gets_its_user(dataset, api):
    """A web row's user that no earlier row mentioned is fetched when its batch needs it."""
    late = UserFactory(username="late-user", name="Late")
    ws = WorkspaceFactory()
    ConnectionLogFactory(
        workspace=ws,
        type="tunnel",
        user=late,
        connect_time=dt.datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),
        connection_id=None,
    )
    api.credentials(**auth_header(dataset))
    last = ndjson_entries(streamed(api.get(URL, {"format": "ndjson"})))[-1]
    assert last["web_info"]["user"]["username"] == "late-user"
    assert last["workspace_owner_id"] == str(ws.owner_id)
    assert uuid.UUID(last["id"])
