"""Reads and the replica's state: lag and outages send connection-log reads to the primary,
a client reads its own writes, an export survives the replica going away, /healthz tells.

The replica alias points at the test database (tests/test_routers.py's fixture); what the
replica would answer about its WAL position is given per test. The lab's drill
(deploy/lab/drill.py, run by CI) checks the same against a real streaming replica."""

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.test import Client

from connlogs import replication
from connlogs.api import row_entries
from connlogs.export import rows as export_rows
from connlogs.export.rows import stream_rows
from connlogs.models import ConnectionLog
from connlogs.replication import REPLICA, ReplicaMonitor, ReplicaState, parse_lsn
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory
from tests.test_routers import both, queries_by_alias, replica_alias, routed, touches_logs

__all__ = ["replica_alias", "routed"]  # fixtures used here


def test_wal_positions_are_byte_offsets():
    assert parse_lsn("0/0") == 0
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert parse_lsn(None) is None


@pytest.fixture
def answers(monkeypatch):
    """What the primary and the replica answer to the monitor's queries, per test."""
    given = {"primary": "0/1000", "replica": ("0/1000", 0.0), "replica_error": None}

    def one_row(alias, sql):
        if alias == REPLICA:
            if given["replica_error"]:
                raise given["replica_error"]
            return given["replica"] if "extract" in sql else given["replica"][:1]
        return (given["primary"],)

    monkeypatch.setattr(replication, "_one_row", one_row)
    monkeypatch.setattr(replication, "_forget_connection", lambda alias: None)
    return given


def test_caught_up_replica_has_no_lag_and_serves_reads(answers, settings):
    settings.CONNLOGS_REPLICA_MAX_LAG = 5
    state = ReplicaMonitor()._measure()
    assert (state.available, state.lag_bytes, state.lag_seconds, state.usable) == (
        True, 0, 0.0, True
    )  # fmt: skip
    assert state.as_json()["status"] == "streaming" and state.as_json()["reads"] == "replica"


def test_a_replica_far_behind_sends_reads_to_the_primary(answers, settings):
    settings.CONNLOGS_REPLICA_MAX_LAG = 5
    answers["primary"], answers["replica"] = "0/5000", ("0/1000", 12.5)
    state = ReplicaMonitor()._measure()
    assert state.lag_bytes == 0x4000 and state.lag_seconds == 12.5
    assert not state.usable
    assert state.as_json() | {"lag_seconds": 0} == {
        "status": "lagging", "reads": "primary", "lag_seconds": 0, "lag_bytes": 0x4000,
        "max_lag_seconds": 5,
    }  # fmt: skip


def test_after_an_idle_spell_the_lag_is_bounded_by_the_last_time_it_was_caught_up(answers):
    monitor = ReplicaMonitor()
    monitor._measure()  # caught up now
    # A first write after a long idle spell: the last replayed commit is an hour old, but the
    # replica held everything a moment ago, so it is at most that moment behind.
    answers["primary"], answers["replica"] = "0/2000", ("0/1000", 3600.0)
    state = monitor._measure()
    assert state.lag_bytes == 0x1000 and state.lag_seconds < 5 and state.usable


def test_a_replica_that_does_not_answer_is_down(answers):
    answers["replica_error"] = OperationalError("connection refused")
    state = ReplicaMonitor()._measure()
    assert not state.available and not state.usable
    assert state.as_json()["status"] == "down" and state.as_json()["reads"] == "primary"


@pytest.fixture
def measured(monkeypatch, settings):
    """The monitor measures (as on PostgreSQL) and answers ``states[0]``."""
    states = [ReplicaState(available=True)]
    monkeypatch.setattr(ReplicaMonitor, "measuring", lambda self: True)
    monkeypatch.setattr(replication.monitor, "state", lambda: states[0])
    settings.CONNLOGS_REPLICA_MAX_LAG = 5
    return states


@both
@pytest.mark.parametrize(
    "state", [ReplicaState(available=False), ReplicaState(available=True, lag_seconds=6.0)]
)
def test_reads_go_to_the_primary_while_the_replica_is_down_or_lagging(routed, measured, state):
    ConnectionLogFactory()
    measured[0] = state
    seen = queries_by_alias(lambda: list(ConnectionLog.objects.all()))
    assert touches_logs(seen["default"]) and not touches_logs(seen[REPLICA])
    measured[0] = ReplicaState(available=True, lag_seconds=1.0)  # back, and close enough
    seen = queries_by_alias(lambda: list(ConnectionLog.objects.all()))
    assert touches_logs(seen[REPLICA]) and not touches_logs(seen["default"])


def _event(workspace, connection_id):
    return {
        "action": "connect", "time": "2025-07-10T10:00:00Z", "type": "ssh",
        "workspace_id": str(workspace.id), "agent_name": "main", "connection_id": connection_id,
    }  # fmt: skip


@both
def test_a_client_reads_its_own_write_from_the_primary_until_the_replica_replayed_it(
    routed, measured, monkeypatch, client_for
):
    cache.clear()
    workspace = WorkspaceFactory()
    writer = UserFactory(site_roles=["auditor", "connection-reporter"])
    reader = UserFactory(site_roles=["auditor"])
    measured[0] = ReplicaState(available=True, replay_lsn=0x1000)
    monkeypatch.setattr(replication, "primary_lsn", lambda: 0x2000)  # after the write
    replica_at = ["0/1000"]
    monkeypatch.setattr(replication, "_one_row", lambda alias, sql: (replica_at[0],))

    event = _event(workspace, "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908")
    response = client_for(writer).post(
        "/api/v2/connectionlog/events", {"events": [event]}, format="json"
    )
    assert response.status_code == 200

    def read_as(user):
        answers = []
        seen = queries_by_alias(
            lambda: answers.append(client_for(user).get("/api/v2/connectionlog"))
        )
        assert answers[0].status_code == 200 and answers[0].json()["count"] == 1
        return "primary" if touches_logs(seen["default"]) else "replica"

    assert read_as(writer) == "primary"  # the replica has not replayed 0/2000 yet
    assert read_as(reader) == "replica"  # others are not held back
    replica_at[0] = "0/2000"
    assert read_as(writer) == "replica"


@both
def test_an_export_goes_on_from_the_primary_when_the_replica_fails(routed, monkeypatch):
    ConnectionLogFactory.create_batch(5)
    monkeypatch.setattr(export_rows, "CHUNK_SIZE", 2)
    monkeypatch.setattr(replication.monitor, "_state", None)
    read = row_entries.RowReader._read
    read_from = []

    def replica_fails_after_one_batch(self, queryset):
        if self.alias == REPLICA and read_from:
            raise OperationalError("server closed the connection unexpectedly")
        read_from.append(self.alias)
        return read(self, queryset)

    monkeypatch.setattr(row_entries.RowReader, "_read", replica_fails_after_one_batch)
    viewer = UserFactory(site_roles=["owner"])
    entries = list(stream_rows(ConnectionLog.objects.using(REPLICA), viewer))
    assert len({entry["id"] for entry in entries}) == 5  # every row, none twice
    assert read_from == [REPLICA, "default", "default"]
    assert replication.monitor._state.available is False  # later reads go to the primary


@pytest.mark.django_db
def test_healthz_shows_the_replica_and_stays_healthy_when_it_is_down(measured):
    measured[0] = ReplicaState(available=True, lag_seconds=0.25, lag_bytes=512)
    answer = Client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["replica"] == {
        "status": "streaming", "reads": "replica", "lag_seconds": 0.25, "lag_bytes": 512,
        "max_lag_seconds": 5,
    }  # fmt: skip
    measured[0] = ReplicaState(available=False, error="OperationalError")
    answer = Client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["replica"]["status"] == "down"
    assert answer.json()["replica"]["reads"] == "primary"
