"""On PostgreSQL the app's connections bind parameters on the server and prepare a statement
at its third run on a connection (project/settings.py), so a search's SQL is one text
whatever its values and PostgreSQL may run one generic plan for all of them (the speed:
docs/scaling.md, "Prepared searches"). Reusing a statement must never mix values up: each
search answers its own rows before the statement is prepared, while PostgreSQL still plans
it for each value, and after it switches to the generic plan."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.factories import ConnectionLogFactory, WorkspaceFactory

pytestmark = requires_postgres

# Runs of one statement: prepared at the third, PostgreSQL's five custom plans, then generic.
ROUNDS = 4


@pytest.fixture
def three_owners(db):
    """Three workspaces (each with its own owner) with 1, 4 and 9 connections over three
    months, so one value's plan and another's rows could not be confused unnoticed."""
    now = timezone.now()
    partitions.ensure(now, since=partitions.month_start(now - dt.timedelta(days=70)), ahead=1)
    made = {}
    for n in (1, 4, 9):
        workspace = WorkspaceFactory()
        for i in range(n):
            ConnectionLogFactory(workspace=workspace, connect_time=now - dt.timedelta(days=7 * i))
        made[workspace] = n
    return made


def _statements_run_prepared() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(max(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%connlogs_connectionlog%workspace_owner_id%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("key", ["workspace_owner", "workspace_id"])
def test_a_prepared_search_answers_each_values_own_rows(three_owners, owner_api, key):
    for _ in range(ROUNDS):
        for workspace, n in three_owners.items():
            value = workspace.owner.username if key == "workspace_owner" else workspace.id
            response = owner_api.get("/api/v2/connectionlog", {"q": f"{key}:{value}"})
            assert response.status_code == 200, response.content
            body = response.json()
            assert body["count"] == n
            rows = body["connection_logs"]
            assert {row["workspace_id"] for row in rows} == {str(workspace.id)}
            times = [row["connect_time"] for row in rows]
            assert len(times) == n and times == sorted(times, reverse=True)
    if key == "workspace_owner":
        # The page and the count ran prepared: their plans served the later values.
        assert _statements_run_prepared() >= ROUNDS * len(three_owners) - 2
