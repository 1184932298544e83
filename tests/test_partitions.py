"""The partitioned connection log (PostgreSQL): months made ahead, the DEFAULT partition,
ids that name their partition, merges across months, and the key table's uniqueness."""

import datetime as dt
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from connlogs.ingest import RecordResult, record_events
from connlogs.models import ConnectionKey, ConnectionLog
from connlogs.schema_ops import AddIndexConcurrentlyOnPostgres, RemoveIndexConcurrentlyOnPostgres
from connlogs.storage import ddl, ids, partitions
from tests.conftest import requires_postgres
from tests.factories import ConnectionLogFactory, WorkspaceFactory

UTC = dt.UTC


def agent(ws, action, time, cid, **extra):
    return {
        "action": action,
        "time": time.isoformat().replace("+00:00", "Z"),
        "type": "ssh",
        "workspace_id": str(ws.id),
        "agent_name": "main",
        "connection_id": str(cid),
        **extra,
    }


def partition_of(row_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM connlogs_connectionlog WHERE id = %s", [row_id]
        )
        return cursor.fetchone()[0]


def layout() -> list[partitions.Partition]:
    with connection.cursor() as cursor:
        return partitions.partitions(cursor)


# --- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_an_id_names_the_millisecond_its_row_connected_in(moment):
    made = ids.new_id(moment)
    assert made.version == 7 and made != ids.new_id(moment)
    lower, upper = ids.time_bounds(made)
    assert lower <= moment and moment - lower < dt.timedelta(milliseconds=1)
    # The last millisecond of the calendar has no end to write.
    assert upper is None if moment.year == 9999 else upper - lower == dt.timedelta(milliseconds=1)


def test_times_before_1970_are_bounded_by_1970_and_random_ids_by_nothing():
    made = ids.new_id(dt.datetime(1, 1, 1, tzinfo=UTC))
    assert ids.time_bounds(made) == (None, ids.EPOCH + dt.timedelta(milliseconds=1))
    assert ids.time_bounds(uuid.uuid4()) is None


def test_the_span_of_many_ids_covers_each_of_their_milliseconds():
    moments = [
        dt.datetime(2026, 7, 10, 10, 0, 0, 123456, tzinfo=UTC),
        dt.datetime(2026, 3, 1, tzinfo=UTC),
        dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    made = [ids.new_id(moment) for moment in moments]
    assert ids.span(made) == (
        ids.time_bounds(made[1])[0],
        ids.time_bounds(made[2])[1],
    )
    # Before 1970 nothing bounds below; at the calendar's end nothing above.
    year_one = ids.new_id(dt.datetime(1, 1, 1, tzinfo=UTC))
    assert ids.span([*made, year_one]) == (None, ids.time_bounds(made[2])[1])
    last = ids.new_id(dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert ids.span([made[0], last]) == (ids.time_bounds(made[0])[0], None)
    # A random (v4) id bounds nothing, nor does an empty set.
    assert ids.span([*made, uuid.uuid4()]) == (None, None) == ids.span([])


def test_ids_of_one_batch_grow_with_their_times():
    start = dt.datetime(2026, 11, 1, tzinfo=UTC)
    made = [ids.new_id(start + dt.timedelta(milliseconds=i)) for i in range(100)]
    assert made == sorted(made)


@pytest.mark.django_db
def test_a_row_saved_without_an_id_gets_one_of_its_time():
    row = ConnectionLogFactory(connect_time=dt.datetime(2026, 7, 10, 10, 0, 0, 123456, tzinfo=UTC))
    assert row.id.version == 7
    assert ids.time_bounds(row.id)[0] == dt.datetime(2026, 7, 10, 10, 0, 0, 123000, tzinfo=UTC)
    assert ConnectionLog.objects.get(pk=row.id) == row
    assert list(ConnectionLog.objects.filter(id__in=[row.id, uuid.uuid4()])) == [row]


# --- the layout -----------------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db
def test_migrate_makes_this_month_the_next_ones_and_a_default_partition():
    found = layout()
    this_month = partitions.month_start(timezone.now())
    months = [p.lower for p in found if not p.is_default]
    assert this_month in months
    assert partitions.next_month(partitions.next_month(this_month)) in months
    assert [p.name for p in found if p.is_default] == [partitions.DEFAULT_PARTITION]
    with connection.cursor() as cursor:
        assert ddl.is_partitioned(cursor)


@requires_postgres
@pytest.mark.django_db
def test_maintenance_makes_months_ahead_and_moves_their_rows_out_of_the_default():
    far = partitions.month_start(timezone.now()) + dt.timedelta(days=400)
    far_month = partitions.month_start(far)
    early = ConnectionLogFactory(connect_time=far_month + dt.timedelta(days=3))
    assert partition_of(early.id) == partitions.DEFAULT_PARTITION
    out = StringIO()
    call_command("connection_log_partitions", "--ahead", "14", stdout=out)
    assert f"Made partition {partitions.partition_name(far_month)}." in out.getvalue()
    assert partition_of(early.id) == partitions.partition_name(far_month)
    assert ConnectionLog.objects.get(id=early.id) == early
    # Run again: nothing more to make.
    out = StringIO()
    call_command("connection_log_partitions", "--ahead", "14", stdout=out)
    assert "Made partition" not in out.getvalue()


@requires_postgres
@pytest.mark.django_db
def test_a_time_outside_every_month_is_kept_in_the_default_partition():
    ws = WorkspaceFactory()
    old = dt.datetime(1, 1, 1, tzinfo=UTC)
    record_events([agent(ws, "connect", old, uuid.uuid4())])
    row = ConnectionLog.objects.get()
    assert partition_of(row.id) == partitions.DEFAULT_PARTITION
    assert ids.time_bounds(row.id) == (None, ids.EPOCH + dt.timedelta(milliseconds=1))


@requires_postgres
@pytest.mark.django_db
def test_a_lookup_by_id_reads_one_partition():
    row = ConnectionLogFactory(connect_time=timezone.now())
    plan = ConnectionLog.objects.filter(id=row.id).explain()
    scanned = [line for line in plan.splitlines() if " on connlogs_connectionlog_" in line]
    assert len(scanned) == 1, plan
    assert partitions.partition_name(partitions.month_start(row.connect_time)) in scanned[0]
    # A random (older) id names no time: every partition is probed, and it is still found.
    legacy = ConnectionLogFactory(id=uuid.uuid4(), connect_time=row.connect_time)
    assert ConnectionLog.objects.get(id=legacy.id) == legacy


@requires_postgres
@pytest.mark.django_db
def test_a_v7_id_of_another_time_is_refused():
    when = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionLogFactory(id=ids.new_id(when - dt.timedelta(days=1)), connect_time=when)


# --- merging across months ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_disconnect_finds_its_connect_in_an_earlier_month():
    ws = WorkspaceFactory()
    cid = uuid.uuid4()
    connected = dt.datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    disconnected = dt.datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
    partitions.ensure(disconnected, since=connected, ahead=0)
    assert record_events([agent(ws, "connect", connected, cid)]) == RecordResult(created=1)
    assert record_events([agent(ws, "disconnect", disconnected, cid, exit_code=0)]) == (
        RecordResult(updated=1)
    )
    row = ConnectionLog.objects.get()
    assert (row.connect_time, row.disconnect_time, row.code) == (connected, disconnected, 0)
    if connection.vendor == "postgresql":
        assert partition_of(row.id).endswith("_p2026_10")
        assert ConnectionKey.objects.get().log_id == row.id


@requires_postgres
@pytest.mark.django_db
def test_a_connection_moved_out_of_the_default_partition_still_merges():
    ws = WorkspaceFactory()
    cid = uuid.uuid4()
    past = partitions.month_start(timezone.now() - dt.timedelta(days=200))
    record_events([agent(ws, "connect", past, cid)])
    assert partition_of(ConnectionLog.objects.get().id) == partitions.DEFAULT_PARTITION
    since = past.isoformat().replace("+00:00", "Z")
    call_command("connection_log_partitions", "--since", since, stdout=StringIO())
    assert record_events([agent(ws, "disconnect", past + dt.timedelta(hours=1), cid)]) == (
        RecordResult(updated=1)
    )
    row = ConnectionLog.objects.get()
    assert partition_of(row.id) == partitions.partition_name(past)


@requires_postgres
@pytest.mark.django_db
def test_the_key_table_refuses_a_second_row_of_one_connection_from_any_writer():
    """Another month cannot hold a second row of a connection, whoever writes it."""
    first = ConnectionLogFactory(connect_time=timezone.now())
    with pytest.raises(IntegrityError, match="connection_log_connection_unique"):
        with transaction.atomic():
            ConnectionLogFactory(
                workspace=first.workspace,
                connection_id=first.connection_id,
                connect_time=timezone.now() - dt.timedelta(days=45),
            )


@requires_postgres
@pytest.mark.django_db
def test_a_key_whose_row_was_dropped_is_taken_over():
    old_month = partitions.month_start(timezone.now() - dt.timedelta(days=100))
    partitions.ensure(timezone.now(), since=old_month, ahead=0)
    ws = WorkspaceFactory()
    cid = uuid.uuid4()
    record_events([agent(ws, "connect", old_month + dt.timedelta(days=1), cid)])
    partitions.drop(partitions.partition_name(old_month))
    assert not ConnectionLog.objects.exists() and ConnectionKey.objects.count() == 1
    late = timezone.now() - dt.timedelta(minutes=1)
    assert record_events([agent(ws, "disconnect", late, cid)]) == RecordResult(created=1)
    row = ConnectionLog.objects.get()
    assert row.connect_time == late and ConnectionKey.objects.get().log_id == row.id


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_later_migration_builds_its_index_on_every_partition_and_drops_it():
    """PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table: a migration's
    index is built on each partition, attached, and dropped again, without that error."""
    index = models.Index(fields=["agent_name", "-connect_time"], name="cl_test_agent_idx")
    before = MigrationLoader(connection).project_state()
    after = before.clone()
    add = AddIndexConcurrentlyOnPostgres(model_name="connectionlog", index=index)
    add.state_forwards("connlogs", after)
    with connection.schema_editor(atomic=False) as editor:
        add.database_forwards("connlogs", editor, before, after)
    with connection.cursor() as cursor:
        months = partitions.partitions(cursor)
        assert len(months) > 1
        for partition in months:
            names = {name for name, _ in ddl.search_indexes(cursor, partition.name)}
            assert f"{partition.name}_cl_test_agent_idx" in names
        cursor.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'cl_test_agent_idx'::regclass"
        )
        assert cursor.fetchone() == (True,)
    remove = RemoveIndexConcurrentlyOnPostgres(model_name="connectionlog", name=index.name)
    with connection.schema_editor(atomic=False) as editor:
        remove.database_forwards("connlogs", editor, after, before)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('cl_test_agent_idx')")
        assert cursor.fetchone() == (None,)
