"""An existing installation's plain PostgreSQL log turned into the partitioned layout: in
place (migration 0011 on a small log) and online (``partition_connection_log``) while rows
are inserted, updated and deleted between its steps."""

import datetime as dt
import uuid
from importlib import import_module
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from connlogs.ingest import RecordResult, record_events
from connlogs.models import ConnectionKey, ConnectionLog
from connlogs.schema_ops import RunSQLOnPostgres
from connlogs.storage import conversion, ddl, partitions, rollups
from connlogs.web import charts
from connlogs.web.chart_rollups import RollupSearch
from tests.conftest import requires_postgres
from tests.factories import WorkspaceFactory
from tests.test_rollups import rollup_totals, row_totals

SAVED = "connlogs_connectionlog_saved"
FIELDS = [f.attname for f in ConnectionLog._meta.concrete_fields]
# Migration 0007's PostgreSQL-only search indexes and statistics (plain SQL, no model state).
SEARCH_SQL_INDEXES = {"cl_long_session_idx", "cl_session_end_idx", "cl_text_trgm_idx"}
SEARCH_STATISTICS = {"cl_owner_workspace_stats", "cl_type_disconnect_stats"}


def _add_search_sql(cursor) -> None:
    """Migration 0007's SQL on the plain table (not concurrently: inside the test's
    transaction)."""
    search = import_module("connlogs.migrations.0007_search_indexes")
    for operation in search.Migration.operations:
        if isinstance(operation, RunSQLOnPostgres):
            sql = [operation.sql] if isinstance(operation.sql, str) else operation.sql
            for statement in sql:
                cursor.execute(statement.replace(" CONCURRENTLY", ""))


@pytest.fixture
def plain_log(db):
    """The log as it was before migration 0011: one plain table without triggers (the test's
    transaction puts the partitioned one back afterwards)."""
    with connection.cursor() as cursor:
        for partition in partitions.partitions(cursor):
            cursor.execute(f'ALTER TABLE "{partition.name}" RENAME TO "{partition.name}_saved"')
            # Its indexes and statistics are named after it: a new month would reuse them.
            ddl.rename_indexes(cursor, f"{partition.name}_saved", "", "_saved")
        cursor.execute(f'ALTER TABLE "{ddl.LOG_TABLE}" RENAME TO "{SAVED}"')
        ddl.rename_indexes(cursor, SAVED, "", "_saved")
    with connection.schema_editor() as editor:
        editor.create_model(ConnectionLog)
    with connection.cursor() as cursor:
        _add_search_sql(cursor)
        assert not ddl.is_partitioned(cursor)


def fill(count: int) -> list[ConnectionLog]:
    """``count`` rows over the last 400 days, agent and web, some with the old random ids."""
    ws = WorkspaceFactory()
    now = timezone.now()
    rows = []
    for index in range(count):
        web = index % 5 == 0
        connect = now - dt.timedelta(days=index % 400, minutes=index)
        rows.append(
            ConnectionLog(
                id=uuid.uuid4() if index % 2 else None,
                connect_time=connect,
                organization_id=ws.organization_id,
                workspace_owner_id=ws.owner_id,
                workspace_id=ws.id,
                workspace_name=ws.name,
                agent_name="main",
                type="workspace_app" if web else "ssh",
                code=200 if web else (index % 3 or None),
                connection_id=None if web else uuid.uuid4(),
                disconnect_time=None if web or index % 7 == 0 else connect,
            )
        )
    return ConnectionLog.objects.bulk_create(rows)


def snapshot() -> list[tuple]:
    return sorted(ConnectionLog.objects.values_list(*FIELDS), key=lambda row: str(row[0]))


def assert_partitioned_and_exact(expected: list[tuple]) -> None:
    with connection.cursor() as cursor:
        assert ddl.is_partitioned(cursor)
        months = {p.lower for p in partitions.partitions(cursor) if not p.is_default}
    # Every month with rows, this one and those ahead.
    wanted = {partitions.month_start(row[FIELDS.index("connect_time")]) for row in expected}
    ahead = partitions.month_start(timezone.now())
    for _ in range(partitions.AHEAD_MONTHS + 1):
        wanted.add(ahead)
        ahead = partitions.next_month(ahead)
    assert months == wanted
    assert _in_default() == 0
    assert snapshot() == expected
    keyed = ConnectionLog.objects.filter(connection_id__isnull=False).count()
    assert ConnectionKey.objects.count() == keyed
    assert rollup_totals() == row_totals()
    assert_carries_the_search_indexes()


def assert_carries_the_search_indexes() -> None:
    """The partitioned log and each partition have every index of the plain table and its
    extended statistics, migration 0007's PostgreSQL-only ones included (each partition's
    named after the log's: plans name the index they use)."""
    indexes = {index.name for index in ConnectionLog._meta.indexes} | SEARCH_SQL_INDEXES
    with connection.cursor() as cursor:
        assert indexes <= {name for name, _ in ddl.search_indexes(cursor, ddl.LOG_TABLE)}
        assert {name for name, *_ in ddl.statistics(cursor, ddl.LOG_TABLE)} == SEARCH_STATISTICS
        for partition in partitions.partitions(cursor):
            found = {name for name, _ in ddl.search_indexes(cursor, partition.name)}
            assert {f"{partition.name}_{name}" for name in indexes} <= found
            statistics = {name for name, *_ in ddl.statistics(cursor, partition.name)}
            assert statistics == {f"{partition.name}_{name}" for name in SEARCH_STATISTICS}


def _in_default() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{partitions.DEFAULT_PARTITION}"')
        return cursor.fetchone()[0]


@requires_postgres
def test_in_place_conversion_of_a_populated_log(plain_log):
    rows = fill(300)
    expected = snapshot()
    with connection.cursor() as cursor:
        conversion.convert_in_place(cursor, timezone.now())
    assert_partitioned_and_exact(expected)
    # Ingest merges into a converted row, found through its key.
    agent_row = next(row for row in rows if row.connection_id and row.disconnect_time is None)
    disconnect = {
        "action": "disconnect",
        "time": timezone.now().isoformat().replace("+00:00", "Z"),
        "type": "ssh",
        "workspace_id": str(agent_row.workspace_id),
        "agent_name": "main",
        "connection_id": str(agent_row.connection_id),
        "exit_code": 0,
    }
    assert record_events([disconnect]) == RecordResult(updated=1)


@requires_postgres
def test_online_conversion_keeps_every_change_made_while_it_runs(plain_log):
    rows = fill(450)
    out = StringIO()
    call_command("partition_connection_log", "prepare", stdout=out)
    assert "Prepared" in out.getvalue()
    ws = WorkspaceFactory()
    with connection.cursor() as cursor:
        # Writes between backfill batches: a new row, a closed session, a deleted row, and
        # an update of a row the backfill has not reached yet.
        for step in range(100):
            if conversion.backfill_batch(cursor, 50) < 50:
                break
            if step == 1:
                ConnectionLog.objects.create(
                    connect_time=timezone.now(),
                    organization_id=ws.organization_id,
                    workspace_owner_id=ws.owner_id,
                    workspace_id=ws.id,
                    workspace_name=ws.name,
                    agent_name="main",
                    type="ssh",
                    connection_id=uuid.uuid4(),
                )
                ConnectionLog.objects.filter(id=rows[0].id).update(code=9)
                ConnectionLog.objects.filter(id=rows[-1].id).update(disconnect_time=timezone.now())
                ConnectionLog.objects.filter(id=rows[10].id).delete()
        assert conversion.progress(cursor).done
    expected = snapshot()
    out = StringIO()
    call_command("partition_connection_log", "verify", stdout=out)
    call_command("partition_connection_log", "swap", stdout=out)
    assert "Verified: 450 rows in both." in out.getvalue()
    assert_partitioned_and_exact(expected)
    call_command("partition_connection_log", "drop-flat", stdout=out)
    with connection.cursor() as cursor:
        assert not ddl.table_exists(cursor, conversion.FLAT_TABLE)


@requires_postgres
def test_the_online_command_converts_in_one_go(plain_log):
    fill(120)
    expected = snapshot()
    out = StringIO()
    call_command("partition_connection_log", "all", "--batch-size", "25", stdout=out)
    assert "Backfilled 120 rows" in out.getvalue() and "Swapped" in out.getvalue()
    assert_partitioned_and_exact(expected)
    out = StringIO()
    call_command("partition_connection_log", "status", stdout=out)
    assert "partitioned" in out.getvalue()


@requires_postgres
def test_ingest_and_the_chart_work_while_an_online_conversion_is_under_way(plain_log):
    """Between prepare and swap the key table and the rollup follow only the copy: events
    still merge into rows not copied yet, and the chart counts the live table's rows."""
    rows = fill(40)
    call_command("partition_connection_log", "prepare", stdout=StringIO())
    with connection.cursor() as cursor:
        assert conversion.backfill_batch(cursor, 10) == 10
    open_row = next(
        row
        for row in reversed(rows)
        if row.connection_id and row.disconnect_time is None and row.code is None
    )
    ws = WorkspaceFactory()
    now = timezone.now()

    def event(action, row_ws, cid, **extra):
        return {
            "action": action,
            "time": now.isoformat().replace("+00:00", "Z"),
            "type": "ssh",
            "workspace_id": str(row_ws),
            "agent_name": "main",
            "connection_id": str(cid),
            **extra,
        }

    batch = [
        event("disconnect", open_row.workspace_id, open_row.connection_id, exit_code=0),
        event("connect", ws.id, uuid.uuid4()),
    ]
    assert record_events(batch) == RecordResult(created=1, updated=1)
    assert ConnectionLog.objects.get(id=open_row.id).code == 0

    start, end = now - dt.timedelta(days=29), now + dt.timedelta(minutes=1)
    everything = RollupSearch(None, tuple(rollups.cells_matching(None, None, None)))
    counted = charts.count_by_bucket(
        ConnectionLog.objects.all(), start, end, charts.DAY, everything
    )
    in_window = ConnectionLog.objects.filter(connect_time__gte=start, connect_time__lte=end)
    assert sum(count for _, _, count in counted) == in_window.count() > 0

    expected = snapshot()
    call_command("partition_connection_log", "all", stdout=StringIO())
    assert_partitioned_and_exact(expected)


@requires_postgres
def test_reindex_is_refused_before_the_swap(plain_log):
    with pytest.raises(CommandError, match="swap first"):
        call_command("partition_connection_log", "reindex", stdout=StringIO())


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_reindex_rebuilds_every_index_of_the_partitioned_log_and_keeps_it_whole():
    fill(60)
    expected = snapshot()
    with connection.cursor() as cursor:
        indexes = conversion.log_indexes(cursor)
    out = StringIO()
    call_command("partition_connection_log", "reindex", stdout=out)
    said = out.getvalue()
    assert all(f"  {name}: " in said for name in indexes) and "Reindexed in" in said
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid OR c.relname LIKE '%%_ccnew%%'"
        )
        assert cursor.fetchone()[0] == 0  # no half-built copy left behind
        assert conversion.log_indexes(cursor) == indexes
        assert ddl.is_partitioned(cursor)
    assert snapshot() == expected
