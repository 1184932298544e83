"""The read-replica router: connection-log reads go to "replica", everything else to the
primary. A second database alias, pointing at the test database, stands in for the replica;
queries are captured per alias to see where each one went."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from connlogs.ingest import record_events
from connlogs.models import ConnectionLog, User
from connlogs.routers import REPLICA, ReplicaRouter
from tests.factories import ConnectionLogFactory, UserFactory, WorkspaceFactory, auth_header

ROUTERS = ["connlogs.routers.ReplicaRouter"]
both = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup, django_db_blocker):
    """A "replica" alias on the test database, as settings.py makes from DATABASE_REPLICA_URL
    (with TEST MIRROR, so the test runner neither creates nor flushes it)."""
    replica = dict(connections["default"].settings_dict)
    replica["TEST"] = {**replica.get("TEST", {}), "MIRROR": "default"}
    connections.settings[REPLICA] = replica
    yield
    with django_db_blocker.unblock():
        connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def routed(settings):
    settings.DATABASE_ROUTERS = ROUTERS


def queries_by_alias(run) -> dict[str, list[str]]:
    with CaptureQueriesContext(connections["default"]) as primary:
        with CaptureQueriesContext(connections[REPLICA]) as replica:
            run()
    return {
        "default": [q["sql"] for q in primary.captured_queries],
        REPLICA: [q["sql"] for q in replica.captured_queries],
    }


def touches_logs(sqls: list[str]) -> bool:
    return any("connlogs_connectionlog" in sql for sql in sqls)


@both
def test_connection_log_reads_go_to_the_replica_other_models_to_the_primary(routed):
    ConnectionLogFactory()
    seen = queries_by_alias(lambda: (list(ConnectionLog.objects.all()), list(User.objects.all())))
    assert touches_logs(seen[REPLICA]) and not touches_logs(seen["default"])
    assert any("connlogs_user" in sql for sql in seen["default"])
    assert not any('FROM "connlogs_user"' in sql for sql in seen[REPLICA])


@both
def test_recording_events_reads_and_writes_only_the_primary(routed):
    ws = WorkspaceFactory()
    event = {
        "action": "connect",
        "time": "2025-07-10T10:00:00Z",
        "type": "ssh",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908",
    }
    disconnect = {**event, "action": "disconnect", "time": "2025-07-10T10:05:00Z"}
    seen = queries_by_alias(lambda: record_events([event]) and record_events([disconnect]))
    assert seen[REPLICA] == []
    # The merge read the row it updated (SELECT ... FOR UPDATE on PostgreSQL) on the primary.
    assert any(sql.startswith("SELECT") and touches_logs([sql]) for sql in seen["default"])
    assert ConnectionLog.objects.get().disconnect_time is not None


@both
def test_the_api_answers_from_the_replica_and_signs_in_on_the_primary(routed):
    owner = UserFactory(site_roles=["owner"])
    ConnectionLogFactory.create_batch(3)
    client = APIClient()
    client.credentials(**auth_header(owner))
    responses = []
    seen = queries_by_alias(lambda: responses.append(client.get("/api/v2/connectionlog")))
    assert responses[0].status_code == 200
    assert responses[0].json()["count"] == 3
    assert touches_logs(seen[REPLICA])
    assert not touches_logs(seen["default"])
    assert any("connlogs_apitoken" in sql for sql in seen["default"])


@both
def test_without_the_router_everything_uses_the_primary():
    ConnectionLogFactory()
    seen = queries_by_alias(lambda: list(ConnectionLog.objects.all()))
    assert seen[REPLICA] == [] and touches_logs(seen["default"])


def test_only_the_primary_is_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate("default", "connlogs") is True
    assert router.allow_migrate(REPLICA, "connlogs") is False
    assert router.db_for_write(ConnectionLog) == "default"
