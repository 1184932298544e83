"""PostgreSQL serves the "new address for owner" probe from its own index: a busy owner and a
busy shared address they never used is one descent, not a walk of the address's rows (the
figures: docs/alerts.md, "Cost")."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from connlogs.alerts.evaluation import earlier_from_address
from connlogs.alerts.models import AlertRule, RuleKind
from connlogs.models import ConnectionLog
from tests.conftest import requires_postgres
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = [requires_postgres, pytest.mark.django_db]


def test_the_new_address_probe_uses_the_owner_ip_time_index():
    now = timezone.now()
    busy, others = WorkspaceFactory(name="busy"), [WorkspaceFactory() for _ in range(10)]
    rows = []
    for i in range(3000):
        workspace = busy if i % 2 else others[i % 10]
        # The owner of "busy" uses many addresses; the others share one NAT address.
        ip = f"10.1.{i % 200}.{i % 250}" if workspace is busy else "198.51.100.1"
        rows.append(
            ConnectionLog(
                workspace=workspace,
                organization_id=workspace.organization_id,
                workspace_owner_id=workspace.owner_id,
                workspace_name=workspace.name,
                agent_name="main",
                connect_time=now - dt.timedelta(minutes=i),
                connection_id=uuid.uuid4(),
                type="ssh",
                ip=ip,
            )
        )
    ConnectionLog.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ConnectionLog._meta.db_table}")
    owner = UserFactory(username="root", site_roles=["owner"])
    rule = AlertRule(kind=RuleKind.NEW_ADDRESS, created_by=owner, new_address_days=30)
    probe = ConnectionLog(workspace_owner_id=busy.owner_id, ip="198.51.100.1", connect_time=now)

    query = earlier_from_address(rule, probe).values("pk")[:1]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())

    assert "cl_owner_ip_time_idx" in plan, plan
    assert not earlier_from_address(rule, probe).exists()
