"""From the plain connection-log table to the partitioned layout (PostgreSQL).

Two ways, the same result (``storage.ddl``):

* **in place** (``convert_in_place``; migration 0011 on a small table): one transaction that
  holds the table's ACCESS EXCLUSIVE lock: rename it, create the partitioned table and its
  months, copy the rows, fill the key table and the rollups, drop the old table. Readers and
  writers wait for it: about a minute per million rows on a small machine.
* **online** (``manage.py partition_connection_log``; any size, while the app runs):
  ``prepare`` creates ``connlogs_connectionlog_next`` (partitioned, with its months) and
  statement triggers on the live table that copy every insert, update and delete to it in the
  writer's own transaction; ``backfill`` copies the rows that existed before, oldest first,
  in batches (each its own transaction, resumable); ``swap`` renames the two tables in one
  short transaction. Then ``migrate`` finds the layout in place, and ``drop_flat`` removes
  the old table once it is no longer wanted.

A backfill batch reads its rows ``FOR KEY SHARE``: a concurrent delete waits for the batch
and then deletes the copy too (its trigger), an update's trigger overwrites the copy, so no
change made while a batch runs is lost or undone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection as default_connection
from django.db import transaction

from connlogs.storage import ddl, partitions, rollups
from connlogs.storage.models import ConnectionKey, ConnectionRollup

LOG_TABLE = ddl.LOG_TABLE
NEXT_TABLE = f"{LOG_TABLE}_next"
FLAT_TABLE = f"{LOG_TABLE}_flat"
PROGRESS_TABLE = "connlogs_partitioning_progress"
# Data older than this many months before now stays in the DEFAULT partition.
MAX_MONTHS_BACK = 120
BACKFILL_BATCH = 10_000


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def _months_with_rows(cursor, table: str, now: dt.datetime, ahead: int) -> list[dt.datetime]:
    """The months to partition: those holding rows of ``table`` (at most ``MAX_MONTHS_BACK``
    back) and this one to ``ahead`` months on."""
    earliest = partitions.month_start(now)
    for _ in range(MAX_MONTHS_BACK):
        earliest = (earliest - dt.timedelta(days=1)).replace(day=1)
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', connect_time, 'UTC') FROM \"{table}\" "
        f"WHERE connect_time >= %s",
        [earliest],
    )
    months = {moment.astimezone(dt.UTC) for (moment,) in cursor.fetchall()}
    month = partitions.month_start(now)
    months.add(month)
    for _ in range(ahead):
        month = partitions.next_month(month)
        months.add(month)
    return sorted(months)


def _partition(cursor, parent: str, months: list[dt.datetime]) -> None:
    for month in months:
        partitions.create_month(cursor, month, parent)
    partitions.create_default(cursor, parent)


def fill_keys(cursor, table: str = LOG_TABLE) -> None:
    """The key of every agent row of ``table`` (for a table filled with triggers off)."""
    cursor.execute(
        f"INSERT INTO {ddl.KEY_TABLE} ({ddl.KEY_COLUMNS}, log_id, connect_time) "
        f'SELECT {ddl.KEY_COLUMNS}, id, connect_time FROM "{table}" '
        f"WHERE connection_id IS NOT NULL"
    )


def row_estimate(cursor, table: str = LOG_TABLE, cap: int = 10**9) -> int:
    """How many rows ``table`` has, counted up to ``cap`` + 1."""
    cursor.execute(f'SELECT count(*) FROM (SELECT 1 FROM "{table}" LIMIT %s) AS rows', [cap + 1])
    return cursor.fetchone()[0]


def convert_in_place(cursor, now: dt.datetime, *, ahead: int = partitions.AHEAD_MONTHS) -> None:
    """Turn the plain log table into the partitioned layout, in the caller's transaction."""
    cursor.execute(f'LOCK TABLE "{LOG_TABLE}" IN ACCESS EXCLUSIVE MODE')
    cursor.execute(f'ALTER TABLE "{LOG_TABLE}" RENAME TO "{FLAT_TABLE}"')
    ddl.rename_indexes(cursor, FLAT_TABLE, "", "_flat")
    ddl.create_parent(cursor, FLAT_TABLE, LOG_TABLE, source_suffix="_flat")
    _partition(cursor, LOG_TABLE, _months_with_rows(cursor, FLAT_TABLE, now, ahead))
    columns = ", ".join(f'"{name}"' for name in _columns(cursor, FLAT_TABLE))
    cursor.execute(f'INSERT INTO "{LOG_TABLE}" ({columns}) SELECT {columns} FROM "{FLAT_TABLE}"')
    cursor.execute(f"TRUNCATE {ddl.KEY_TABLE}, {rollups.ROLLUP_TABLE}")
    fill_keys(cursor)
    rollups.rebuild(connection=cursor.db)
    ddl.install_triggers(cursor)
    ddl.drop_table(cursor, FLAT_TABLE)


# --- online --------------------------------------------------------------------------------


def _mirror_functions(columns: list[str]) -> list[str]:
    names = ", ".join(f'"{name}"' for name in columns)
    assign = ", ".join(
        f'"{name}" = EXCLUDED."{name}"' for name in columns if name not in ("id", "connect_time")
    )
    body = {
        "inserted": f'INSERT INTO "{NEXT_TABLE}" ({names}) SELECT {names} FROM new_rows '
        f"ON CONFLICT (id, connect_time) DO NOTHING",
        "updated": f'INSERT INTO "{NEXT_TABLE}" ({names}) SELECT {names} FROM new_rows '
        f"ON CONFLICT (id, connect_time) DO UPDATE SET {assign}",
        "deleted": f'DELETE FROM "{NEXT_TABLE}" AS n USING old_rows AS o '
        f"WHERE n.id = o.id AND n.connect_time = o.connect_time",
    }
    return [
        f"CREATE OR REPLACE FUNCTION connlogs_mirror_{kind}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $fn$ BEGIN {sql}; RETURN NULL; END $fn$"
        for kind, sql in body.items()
    ]


_MIRROR_TRIGGERS = (
    ("connlogs_mirror_inserted", "INSERT", "NEW TABLE AS new_rows", "connlogs_mirror_inserted"),
    (
        "connlogs_mirror_updated",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "connlogs_mirror_updated",
    ),
    ("connlogs_mirror_deleted", "DELETE", "OLD TABLE AS old_rows", "connlogs_mirror_deleted"),
)


@dataclass
class Progress:
    """Where the backfill is: the last row copied, oldest first (None: not started)."""

    last_time: dt.datetime | None
    last_id: object | None
    done: bool


def state(cursor) -> str:
    """``partitioned``, ``prepared`` (a conversion is under way) or ``plain``."""
    if ddl.is_partitioned(cursor, LOG_TABLE):
        return "partitioned"
    if ddl.table_exists(cursor, NEXT_TABLE):
        return "prepared"
    return "plain"


def create_derived_tables(connection) -> None:
    """The key and rollup tables, unless they exist (migration 0011 and ``prepare``, which
    may run before it, both need them)."""
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in (ConnectionKey, ConnectionRollup):
            if model._meta.db_table not in existing:
                editor.create_model(model)


def prepare(cursor, now: dt.datetime, *, ahead: int = partitions.AHEAD_MONTHS) -> None:
    """Create the partitioned copy and start mirroring the live table into it (one
    transaction, a brief SHARE ROW EXCLUSIVE lock on the live table for the triggers)."""
    create_derived_tables(cursor.db)
    ddl.create_parent(cursor, LOG_TABLE, NEXT_TABLE, suffix=ddl.NEXT_SUFFIX)
    _partition(cursor, NEXT_TABLE, _months_with_rows(cursor, LOG_TABLE, now, ahead))
    cursor.execute(f"TRUNCATE {ddl.KEY_TABLE}, {rollups.ROLLUP_TABLE}")
    ddl.install_triggers(cursor, NEXT_TABLE)
    for function in _mirror_functions(_columns(cursor, LOG_TABLE)):
        cursor.execute(function)
    for name, event, referencing, function in _MIRROR_TRIGGERS:
        cursor.execute(
            f'CREATE TRIGGER {name} AFTER {event} ON "{LOG_TABLE}" REFERENCING {referencing} '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    cursor.execute(
        f"CREATE TABLE {PROGRESS_TABLE} (last_time timestamptz, last_id uuid, "
        f"done boolean NOT NULL DEFAULT false)"
    )
    cursor.execute(f"INSERT INTO {PROGRESS_TABLE} DEFAULT VALUES")


def progress(cursor) -> Progress:
    cursor.execute(f"SELECT last_time, last_id, done FROM {PROGRESS_TABLE}")
    return Progress(*cursor.fetchone())


def backfill_batch(cursor, size: int = BACKFILL_BATCH) -> int:
    """Copy the next ``size`` rows (oldest first) of the live table; how many were read
    (0: the backfill is done). Run each batch in its own transaction."""
    at = progress(cursor)
    if at.done:
        return 0
    columns = _columns(cursor, LOG_TABLE)
    names = ", ".join(f'"{name}"' for name in columns)
    after, params = "", []
    if at.last_time is not None:
        after, params = "WHERE (connect_time, id) > (%s, %s)", [at.last_time, at.last_id]
    cursor.execute(
        f'WITH batch AS (SELECT {names} FROM "{LOG_TABLE}" {after} '
        f"ORDER BY connect_time, id LIMIT %s FOR KEY SHARE), "
        f'copied AS (INSERT INTO "{NEXT_TABLE}" ({names}) SELECT {names} FROM batch '
        f"ON CONFLICT (id, connect_time) DO NOTHING) "
        f"SELECT (SELECT count(*) FROM batch), last.connect_time, last.id "
        f"FROM (SELECT 1) AS one LEFT JOIN (SELECT connect_time, id FROM batch "
        f"ORDER BY connect_time DESC, id DESC LIMIT 1) AS last ON true",
        [*params, size],
    )
    count, last_time, last_id = cursor.fetchone()
    if count:
        cursor.execute(
            f"UPDATE {PROGRESS_TABLE} SET last_time = %s, last_id = %s", [last_time, last_id]
        )
    if count < size:
        cursor.execute(f"UPDATE {PROGRESS_TABLE} SET done = true")
    return count


def backfill(
    *, size: int = BACKFILL_BATCH, on_batch: Callable[[int], None] | None = None, connection=None
) -> int:
    """Copy every row not copied yet, batch by batch; how many rows were read."""
    connection = connection or default_connection
    total = 0
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            count = backfill_batch(cursor, size)
        total += count
        if on_batch is not None:
            on_batch(total)
        if count < size:
            return total


def counts(cursor) -> tuple[int, int]:
    """Rows of the live table and of its partitioned copy, in one snapshot (one statement
    sees one snapshot, even in READ COMMITTED)."""
    cursor.execute(
        f'SELECT (SELECT count(*) FROM "{LOG_TABLE}"), (SELECT count(*) FROM "{NEXT_TABLE}")'
    )
    return cursor.fetchone()


def swap(cursor) -> None:
    """Put the partitioned copy in the live table's place (one short transaction: the live
    table's ACCESS EXCLUSIVE lock for the renames). The backfill must be done."""
    if not progress(cursor).done:
        raise RuntimeError("the backfill is not finished: run it to the end first")
    cursor.execute("SET LOCAL lock_timeout = '10s'")
    cursor.execute(f'LOCK TABLE "{LOG_TABLE}" IN ACCESS EXCLUSIVE MODE')
    for name, *_ in _MIRROR_TRIGGERS:
        cursor.execute(f'DROP TRIGGER {name} ON "{LOG_TABLE}"')
    cursor.execute(f'ALTER TABLE "{LOG_TABLE}" RENAME TO "{FLAT_TABLE}"')
    ddl.rename_indexes(cursor, FLAT_TABLE, "", "_flat")
    cursor.execute(f'ALTER TABLE "{NEXT_TABLE}" RENAME TO "{LOG_TABLE}"')
    ddl.rename_indexes(cursor, LOG_TABLE, ddl.NEXT_SUFFIX, "")
    ddl.install_triggers(cursor)
    cursor.execute(f"DROP TABLE {PROGRESS_TABLE}")


def drop_flat(connection=None) -> None:
    """Drop the plain table a swap left behind (if it is there), while writers go on
    (``partitions.drop_detached``). Outside a transaction."""
    partitions.drop_detached(FLAT_TABLE, connection=connection or default_connection)


def log_indexes(cursor) -> list[str]:
    """The indexes of the log's partitions and of the key table (qualified names)."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i "
        "WHERE i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)"
        " OR i.indrelid = %s::regclass ORDER BY 1",
        [LOG_TABLE, ConnectionKey._meta.db_table],
    )
    return [name for (name,) in cursor.fetchall()]


def reindex(cursor, on_index: Callable[[str, int, int], None] | None = None) -> tuple[int, int]:
    """Rebuild every index of ``log_indexes`` one at a time with ``REINDEX INDEX
    CONCURRENTLY`` (writes go on; needs autocommit: not inside a transaction).

    An online backfill builds the copy's indexes by inserting into them, in the order the
    rows arrive: at 10M rows they came out at 947 bytes a row against 652 for indexes built
    in one pass (docs/scaling.md). Calls ``on_index(name, bytes before, bytes after)`` after
    each; returns the totals ``(before, after)`` in bytes. An index whose rebuild failed is
    left as it was, and PostgreSQL's invalid copy is dropped, before the error is raised.
    """
    total_before = total_after = 0
    for name in log_indexes(cursor):
        before = _index_bytes(cursor, name)
        try:
            cursor.execute(f"REINDEX INDEX CONCURRENTLY {name}")
        except Exception:
            _drop_invalid_copy(cursor, name)
            raise
        after = _index_bytes(cursor, name)
        total_before, total_after = total_before + before, total_after + after
        if on_index is not None:
            on_index(name, before, after)
    return total_before, total_after


def _index_bytes(cursor, name: str) -> int:
    cursor.execute("SELECT pg_relation_size(%s::regclass)", [name])
    return cursor.fetchone()[0]


def _drop_invalid_copy(cursor, name: str) -> None:
    # A failed REINDEX CONCURRENTLY leaves an invalid "<name>_ccnew" beside the index.
    cursor.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE NOT i.indisvalid AND c.relname LIKE %s",
        [name.rsplit(".", 1)[-1].strip('"') + "_ccnew%"],
    )
    for (copy,) in cursor.fetchall():
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {copy}")
