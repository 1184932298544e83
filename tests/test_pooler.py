"""Event ingest under PgBouncer's transaction pooling: a transaction may run on any server
connection, so nothing the COPY store needs may be left from an earlier transaction.

PgBouncer itself runs in the lab (deploy/lab, CI's drill); here a server session that lost
its temporary tables between two batches stands in for the next transaction landing on
another server connection."""

import pytest
from django.db import connection

from connlogs.ingest import record_events
from connlogs.models import ConnectionLog
from tests.conftest import requires_postgres
from tests.factories import WorkspaceFactory


def _connect(workspace, connection_id):
    return {
        "action": "connect", "time": "2025-07-10T10:00:00Z", "type": "ssh",
        "workspace_id": str(workspace.id), "agent_name": "main", "connection_id": connection_id,
    }  # fmt: skip


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_on_a_server_session_without_the_staging_table_is_recorded():
    workspace = WorkspaceFactory()
    record_events([_connect(workspace, "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908")])
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")  # as if the next transaction got another server
    second = _connect(workspace, "0b9c4f6e-2d4e-4a8e-9a51-3f1c1f0c9d11")
    disconnect = {**second, "action": "disconnect", "time": "2025-07-10T10:05:00Z"}
    assert record_events([second]).as_dict()["created"] == 1
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")
    assert record_events([disconnect]).as_dict()["updated"] == 1
    assert ConnectionLog.objects.filter(disconnect_time__isnull=False).count() == 1
