"""On PostgreSQL the app's connections bind parameters on the server and prepare a statement
at its third run on a connection (project/settings.py), so a search's SQL is one text
whatever its values and PostgreSQL may run one generic plan for all of them (the speed:
docs/scaling.md, "Prepared searches"). Reusing a statement must never mix values up: each
search answers its own rows before the statement is prepared, while PostgreSQL still plans
it for each value, and after it switches to the generic plan."""

import datetime as dt

import pytest
from django.db import NotSupportedError, connection, transaction
from django.utils import timezone

from connlogs import roles
from connlogs.models import ConnectionLog
from connlogs.storage import partitions
from tests.conftest import requires_postgres
from tests.factories import (
    ConnectionLogFactory,
    OrganizationFactory,
    WorkspaceFactory,
    auth_header,
    member,
)

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


def _generic_runs(column: str) -> list[int]:
    """How many times each prepared search filtering on ``column`` ran a generic plan."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT%%' AND statement LIKE %s",
            [f'%WHERE "connlogs_connectionlog"."{column}" IN ($1)%'],
        )
        return [row[0] for row in cursor.fetchall()]


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
    # The later values were answered by a plan made without them.
    generic = _generic_runs(f"{key}_id" if key == "workspace_owner" else key)
    assert generic and all(runs > 0 for runs in generic), generic


def _statements_naming(value) -> list[tuple[int, int, str]]:
    """(generic runs, custom runs, SQL) of the prepared searches with ``value`` written in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT%%' AND statement LIKE %s",
            [f"%'{value}'::uuid%"],
        )
        return cursor.fetchall()


def test_each_organizations_search_is_its_own_statement_planned_once(db, client, owner_api):
    """Organization ids are written into the SQL (``literals``): each organization's search,
    and each scoped reader's list, answers its own rows from its own prepared statement,
    run on its one plan (no values left to plan for)."""
    now = timezone.now()
    partitions.ensure(now, since=partitions.month_start(now), ahead=1)
    sizes = {}
    for n in (2, 5):
        organization = OrganizationFactory()
        workspace = WorkspaceFactory(organization=organization)
        for i in range(n):
            ConnectionLogFactory(workspace=workspace, connect_time=now - dt.timedelta(hours=i))
        sizes[organization] = n
    readers = {org: auth_header(member(org, roles.ORGANIZATION_AUDITOR)) for org in sizes}
    for _ in range(ROUNDS):
        for organization, n in sizes.items():
            q = {"q": f"organization:{organization.name}"}
            by_key = owner_api.get("/api/v2/connectionlog", q)
            scoped = client.get("/api/v2/connectionlog", **readers[organization])
            for response in (by_key, scoped):
                assert response.status_code == 200, response.content
                rows = response.json()["connection_logs"]
                assert {row["organization"]["id"] for row in rows} == {str(organization.id)}
                assert len(rows) == response.json()["count"] == n
    for organization in sizes:
        runs = _statements_naming(organization.id)
        # The scoped list (newest month first) and the search: nothing left bound.
        assert len(runs) >= 2 and all("$1" not in sql for _, _, sql in runs), runs
        assert all(generic > 0 and custom == 0 for generic, custom, _ in runs), runs


def _alter(db_name: str, column: str, sql_type: str) -> None:
    """Change the type of a column the searches return, from another connection (a
    migration's)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=db_name,
        autocommit=True,
    ) as other:
        other.execute(f"ALTER TABLE connlogs_connectionlog ALTER COLUMN {column} TYPE {sql_type}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("column", "changed", "original"),
    [("agent_name", "varchar(80)", "varchar(64)"), ("code", "bigint", "integer")],
)
def test_a_search_prepared_before_a_column_changed_type_still_answers(
    three_owners, owner_api, column, changed, original
):
    """A migration that changes a returned column's type leaves every prepared statement
    unusable ("cached plan must not change result type"): the search is answered anyway."""
    workspace, n = next((w, n) for w, n in three_owners.items() if n == 4)
    q = {"q": f"workspace_owner:{workspace.owner.username}"}
    for _ in range(ROUNDS * 2):
        assert owner_api.get("/api/v2/connectionlog", q).json()["count"] == n
    db_name = connection.settings_dict["NAME"]
    _alter(db_name, column, changed)
    try:
        response = owner_api.get("/api/v2/connectionlog", q)
        assert response.status_code == 200, response.content
        assert response.json()["count"] == n
        # Inside a transaction the statement cannot be run again: the error stands, and
        # the connection is closed after the request so the next one starts clean.
        for _ in range(ROUNDS * 2):
            list(ConnectionLog.objects.filter(workspace_owner=workspace.owner)[:5])
        _alter(db_name, column, original)
        with pytest.raises(NotSupportedError), transaction.atomic():
            list(ConnectionLog.objects.filter(workspace_owner=workspace.owner)[:5])
        assert connection.close_at == 0
    finally:
        connection.close()
        _alter(db_name, column, original)
