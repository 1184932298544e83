"""The ingest's fast paths decide exactly what the general paths decide.

* ``schema.normalize_ip`` (IPv6 through the C library) writes every address as
  ``values.normalize_ip`` does, and refuses the same text;
* ``values.parse_rfc3339`` (the C parser for text of RFC 3339's shape) reads every time as
  its field-by-field reader does, and refuses the same;
* on PostgreSQL, the COPY-based store writes the same rows and answers the same counts as
  the ORM store (the path SQLite takes), and carries nothing from one batch to the next.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import random
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from connlogs import values
from connlogs.ingest import RecordResult, record_events, schema, stores
from connlogs.ingest.rows import COLUMNS
from connlogs.models import ConnectionLog
from tests.conftest import requires_postgres
from tests.factories import UserFactory, WorkspaceFactory

CID = "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908"
ODD_VALUES = [
    None,
    "",
    " ",
    0,
    -1,
    99,
    100,
    599,
    600,
    2**31,
    -(2**31),
    True,
    False,
    1.5,
    [],
    {},
    "connect",
    "disconnect",
    "ssh",
    "tunnel",
    "rdp",
    "2025-07-10T10:00:00",
    "2025-07-10T10:00:00Z",
    "0001-01-01T00:00:00+01:00",
    CID,
    CID.upper(),
    "{" + CID + "}",
    CID.replace("-", ""),
    f" {CID} ",
    CID[:-1] + "g",
    "localhost",
    "10.0.0.256",
    "10.0.0.1/32",
    "fe80::1%eth0",
    "::ffff:1.2.3.4",
    "::1",
    " 10.1.2.3 ",
    "FD7A::1",
    "a" * 64,
    "a" * 65,
    "x" * 257,
    "x" * 4097,
    "ma\x00in",
    "\ud800",
    "ünïcode ✓",
]


def plain_ipv6_texts(rng: random.Random, count: int):
    tokens = ["", "0", "00", "0000", "00000", "1", "a", "F", "ffff", "abcd", "12345", "0a0"]
    for _ in range(count):
        text = ":".join(rng.choice(tokens) for _ in range(rng.randrange(1, 11)))
        if rng.random() < 0.3:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + ":" + text[at:]
        yield text
    for words in itertools.product([0, 1, 0xFFFF], repeat=8):
        packed = b"".join(word.to_bytes(2, "big") for word in words)
        address = ipaddress.IPv6Address(packed)
        yield from (address.exploded, address.compressed, address.exploded.upper())


def outcome(normalize, text):
    try:
        return normalize(text)
    except ValueError:
        return ValueError


def test_ipv6_through_the_c_library_is_written_as_values_normalize_ip_writes_it():
    fast = schema.normalize_ip.__wrapped__
    checked = 0
    for text in plain_ipv6_texts(random.Random(11), 60_000):
        checked += 1
        assert outcome(fast, text) == outcome(values.normalize_ip, text), text
    for text in ODD_VALUES:
        if isinstance(text, str) and "\x00" not in text:
            assert outcome(fast, text) == outcome(values.normalize_ip, text), text
    assert checked > 60_000


# --- the PostgreSQL store against the ORM store -----------------------------------------


def day_of_events(ws, user, cids):
    """Connects, disconnects (first, repeated, filling what is empty), web events, repeats."""

    def agent(action, minute, cid, kind="ssh", **extra):
        return {
            "action": action,
            "time": f"2025-07-10T10:{minute:02d}:00.5Z",
            "type": kind,
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "connection_id": cid,
            **extra,
        }

    def web(minute, **extra):
        return {
            "action": "connect",
            "time": f"2025-07-10T10:{minute:02d}:00Z",
            "type": "workspace_app",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            **extra,
        }

    a, b, c, d = cids
    return [
        [
            agent("connect", 1, a, ip="fd7a:115c:a1e0::1"),
            agent("connect", 2, b, kind="jetbrains"),
            web(3, user_id=str(user.id), user_agent='=cmd "x"', status_code=404),
            web(3),
            agent("disconnect", 4, c, exit_code=255),  # disconnect first: a closed row
            agent("connect", 5, a),  # a repeat in the same batch
        ],
        [
            agent("disconnect", 6, a),  # no reason, no code
            agent("disconnect", 7, a, reason="timeout", exit_code=1),  # fills both
            agent("disconnect", 8, b, reason="client disconnected", exit_code=0),
            agent("connect", 9, c),  # a late connect changes nothing
            {**agent("connect", 10, a), "agent_name": "second"},  # another agent: a row
            agent("connect", 11, d, kind="reconnecting_pty", ip="localhost"),
        ],
        [
            agent("disconnect", 12, b, reason="other", exit_code=2),  # changes nothing
            agent("disconnect", 13, d),
            agent("connect", 14, d),
            web(15, slug_or_port="8080"),
        ],
    ]


def recorded(ws) -> list[tuple]:
    fields = [f for f in COLUMNS if f not in ("id", "workspace_id", "workspace_name")]
    rows = ConnectionLog.objects.filter(workspace=ws).values_list(*fields)
    return sorted(rows, key=repr)


@requires_postgres
@pytest.mark.django_db
def test_the_copy_store_records_what_the_orm_store_records(monkeypatch):
    user = UserFactory()
    cids = [str(uuid.uuid4()) for _ in range(4)]
    copy_ws = WorkspaceFactory(name="copy")
    orm_ws = WorkspaceFactory(name="orm", organization=copy_ws.organization, owner=copy_ws.owner)
    with_copy = [record_events(batch) for batch in day_of_events(copy_ws, user, cids)]
    monkeypatch.setattr(stores, "store", stores.OrmStore)
    with_orm = [record_events(batch) for batch in day_of_events(orm_ws, user, cids)]
    assert (
        with_copy
        == with_orm
        == [
            RecordResult(created=5, updated=0, unchanged=1),
            RecordResult(created=2, updated=3, unchanged=1),
            RecordResult(created=1, updated=1, unchanged=2),
        ]
    )
    assert recorded(copy_ws) == recorded(orm_ws)
    assert len(recorded(copy_ws)) == 8


@requires_postgres
@pytest.mark.django_db
def test_batches_in_one_transaction_do_not_see_each_others_staged_rows():
    ws = WorkspaceFactory()
    batch = [
        {
            "action": "connect",
            "time": "2025-07-10T10:00:00Z",
            "type": "port_forwarding",
            "workspace_id": str(ws.id),
            "agent_name": "main",
        }
    ]
    with transaction.atomic():
        assert record_events(batch) == RecordResult(created=1)
        assert record_events(batch * 3) == RecordResult(created=3)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {stores.PostgresStore.STAGING}")
            assert cursor.fetchone()[0] == 0
    assert ConnectionLog.objects.count() == 4


@requires_postgres
@pytest.mark.django_db
def test_a_batch_of_1000_events_is_a_few_statements():
    ws = WorkspaceFactory()
    batch = [
        {
            "action": "connect",
            "time": "2025-07-10T10:00:00Z",
            "type": "ssh",
            "workspace_id": str(ws.id),
            "agent_name": "main",
            "connection_id": str(uuid.uuid4()),
        }
        for _ in range(1000)
    ]
    with CaptureQueriesContext(connection) as captured:
        assert record_events(batch) == RecordResult(created=1000)
    # workspaces, users, lock, staging table, insert (COPY is not a captured query), and the
    # change feed's lock and its entries' one insert; savepoint or transaction statements aside.
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 8, statements
    disconnects = [{**event, "action": "disconnect", "exit_code": 0} for event in batch]
    with CaptureQueriesContext(connection) as captured:
        assert record_events(disconnects) == RecordResult(updated=1000)
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 8, statements


# --- RFC 3339 times: the C parser against the field-by-field reader -----------------------


def rfc3339_texts(rng: random.Random, count: int):
    """Times of RFC 3339's shape, valid and not: every field at and past its range."""
    for _ in range(count):
        year = rng.choice([0, 1, 2, 1970, 2025, 9998, 9999])
        month, day = rng.choice([0, 1, 2, 12, 13]), rng.choice([0, 1, 28, 29, 30, 31, 32])
        hour, minute, second = (
            rng.choice([0, 23, 24]),
            rng.choice([0, 59, 60]),
            rng.choice([0, 59, 60]),
        )
        fraction = rng.choice(
            ["", "." + "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 10)))]
        )
        offset = rng.choice(
            ["Z", "z", "+00:00", "-00:00", "+01:00", "-12:30", "+23:59", "+24:00", "-05:60"]
        )
        t = rng.choice("Tt")
        clock = f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
        yield f"{year:04d}-{month:02d}-{day:02d}{t}{clock}"


def test_the_c_parser_reads_every_rfc3339_time_as_the_field_reader_does():
    checked = 0
    for text in rfc3339_texts(random.Random(5), 40_000):
        match = values._RFC3339.match(text)
        assert match, text
        fast, slow = (
            outcome(values.parse_rfc3339, text),
            outcome(functools.partial(values._read_rfc3339, match=match), text),
        )
        assert fast == slow, text
        checked += fast is not ValueError
    assert checked > 2_000  # valid times were among them
