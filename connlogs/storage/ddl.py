"""The connection log's PostgreSQL layout: a table partitioned by month on ``connect_time``.

``create_parent`` makes it from the plain table's definition (columns, defaults, foreign
keys, every search index), with:

* primary key ``(id, connect_time)``: a unique index on a partitioned table must contain the
  partition key. Ids stay unique: a version-7 id's time is its row's ``connect_time`` to the
  millisecond, which the CHECK ``connlogs_connectionlog_id_time`` enforces
  (``storage.ids``), and older random ids were unique before;
* no unique index on the merge key ``(connection_id, workspace_id, agent_name)``: the key
  table ``connlogs_connectionkey`` holds it. Triggers (``install_triggers``) add a row's key
  when the row is inserted and remove it when the row is deleted, in the same statement;
  a key that is already taken by a row that exists aborts the statement with a
  ``unique_violation`` on ``connection_log_connection_unique``, exactly as the unique index
  of the plain table did; a key whose row is gone (its partition was dropped) is taken over;
* ``cl_connection_idx``: the search by ``connection_id`` within each partition;
* the rollup triggers (``storage.rollups``).

Everything here takes a DB-API cursor and runs in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from connlogs import transient
from connlogs.storage import rollups
from connlogs.storage.models import ConnectionKey

LOG_TABLE = rollups.LOG_TABLE
KEY_TABLE = ConnectionKey._meta.db_table
KEY_COLUMNS = "connection_id, workspace_id, agent_name"
MERGE_KEY_CONSTRAINT = transient.MERGE_KEY_CONSTRAINT
ID_TIME_CHECK = "connlogs_connectionlog_id_time"
CONNECTION_INDEX = "cl_connection_idx"
# The partitioned copy's indexes and statistics while an online conversion runs are named
# ``<name>_next`` (``storage.conversion``); they lose the suffix at the swap.
NEXT_SUFFIX = "_next"

# A version-7 id's first 48 bits are its time in ms; rows before 1970 have 0 there.
_ID_TIME = (
    "CHECK (substr(id::text, 15, 1) <> '7' OR "
    "('x' || translate(substr(id::text, 1, 13), '-', ''))::bit(48)::bigint = "
    "GREATEST(0, floor(extract(epoch FROM connect_time) * 1000))::bigint)"
)

_INSERTED = f"""
CREATE OR REPLACE FUNCTION connlogs_log_rows_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    keyed bigint;
    added bigint;
    taken_over bigint := 0;
BEGIN
    INSERT INTO {KEY_TABLE} ({KEY_COLUMNS}, log_id, connect_time)
    SELECT {KEY_COLUMNS}, id, connect_time FROM new_rows
    WHERE connection_id IS NOT NULL ORDER BY {KEY_COLUMNS}
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    SELECT count(*) INTO keyed FROM new_rows WHERE connection_id IS NOT NULL;
    IF added < keyed THEN
        -- Wait for any writer taking these keys over (or clearing them) first, so that the
        -- UPDATE below, a statement of its own, looks with a snapshot taken after that
        -- writer committed. Waiting inside the UPDATE instead, it would re-check NOT EXISTS
        -- with its earlier snapshot, miss the row that writer just added and take the key
        -- from it: two rows for one connection, one of them without a key.
        PERFORM 1 FROM {KEY_TABLE} AS k JOIN new_rows AS n USING ({KEY_COLUMNS})
            ORDER BY {KEY_COLUMNS} FOR UPDATE OF k;
        -- A key whose row is gone (dropped with its partition) now names the new row.
        EXECUTE format(
            'UPDATE {KEY_TABLE} AS k SET log_id = n.id, connect_time = n.connect_time
             FROM new_rows AS n
             WHERE (k.connection_id, k.workspace_id, k.agent_name)
                   = (n.connection_id, n.workspace_id, n.agent_name)
               AND k.log_id <> n.id
               AND NOT EXISTS (SELECT 1 FROM %I.%I AS l
                               WHERE l.id = k.log_id AND l.connect_time = k.connect_time)',
            TG_TABLE_SCHEMA, TG_TABLE_NAME);
        GET DIAGNOSTICS taken_over = ROW_COUNT;
    END IF;
    IF added + taken_over < keyed THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "{MERGE_KEY_CONSTRAINT}"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = '{MERGE_KEY_CONSTRAINT}',
                  TABLE = TG_TABLE_NAME;
    END IF;
    {rollups.ADD_INSERTED};
    RETURN NULL;
END
$fn$;
"""

_DELETED = f"""
CREATE OR REPLACE FUNCTION connlogs_log_rows_deleted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM {KEY_TABLE} AS k USING old_rows AS o
    WHERE (k.connection_id, k.workspace_id, k.agent_name)
          = (o.connection_id, o.workspace_id, o.agent_name)
      AND k.log_id = o.id;
    {rollups.SUBTRACT_DELETED};
    RETURN NULL;
END
$fn$;
"""

_UPDATED = f"""
CREATE OR REPLACE FUNCTION connlogs_log_rows_updated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    {rollups.MOVE_UPDATED};
    RETURN NULL;
END
$fn$;
"""

TRIGGERS = (
    ("connlogs_log_inserted", "INSERT", "NEW TABLE AS new_rows", "connlogs_log_rows_inserted"),
    (
        "connlogs_log_updated",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "connlogs_log_rows_updated",
    ),
    ("connlogs_log_deleted", "DELETE", "OLD TABLE AS old_rows", "connlogs_log_rows_deleted"),
)


def install_functions(cursor) -> None:
    """(Re)create the trigger functions keeping keys and rollups (``CREATE OR REPLACE``:
    the triggers that call them stay)."""
    for function in (_INSERTED, _DELETED, _UPDATED):
        cursor.execute(function)


def install_triggers(cursor, table: str = LOG_TABLE) -> None:
    """(Re)create the functions and the statement triggers keeping keys and rollups."""
    install_functions(cursor)
    for name, event, referencing, function in TRIGGERS:
        cursor.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
        cursor.execute(
            f'CREATE TRIGGER {name} AFTER {event} ON "{table}" REFERENCING {referencing} '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def drop_table(cursor, table: str) -> None:
    """Drop ``table`` (if it exists) in the caller's transaction. Deferred foreign-key checks
    of rows written earlier in that transaction would keep the table busy ("pending trigger
    events"): they are run first, then deferred again (Django's are INITIALLY DEFERRED)."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def keeps_derived_tables(connection) -> bool:
    """Whether the key table and the rollups follow every row of the live log: on SQLite
    always (migration 0011's triggers), on PostgreSQL once the log is partitioned. Before
    that (an installation converted online: the old release runs, or this one before the
    swap) they follow only the partitioned copy: merges then go by the plain table's unique
    index, and the chart counts rows."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        return is_partitioned(cursor)


def is_partitioned(cursor, table: str = LOG_TABLE) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    found = cursor.fetchone()
    return bool(found) and found[0] == "p"


def table_exists(cursor, table: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
    return cursor.fetchone()[0]


def search_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """``(name, CREATE INDEX ...)`` of ``table``'s indexes that back no constraint."""
    cursor.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = %s::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           ORDER BY c.relname""",
        [table],
    )
    return cursor.fetchall()


def foreign_keys(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    return cursor.fetchall()


def statistics(cursor, table: str) -> list[tuple[str, str, int]]:
    """``(name, CREATE STATISTICS ..., statistics target)`` of ``table``'s extended
    statistics (-1: the default target)."""
    cursor.execute(
        "SELECT stxname, pg_get_statisticsobjdef(oid), stxstattarget FROM pg_statistic_ext "
        "WHERE stxrelid = %s::regclass ORDER BY stxname",
        [table],
    )
    return cursor.fetchall()


def copy_indexes(cursor, parent: str, partition: str) -> None:
    """Build ``parent``'s indexes on the plain table ``partition`` before it is attached (the
    attach then adopts them), each named ``<partition>_<index>``: a plan that reads a
    partition names the log's index it uses (``cl_ip_time_idx``), not a generated name."""
    for name, definition in search_indexes(cursor, parent):
        child = f"{partition}_{name.removesuffix(NEXT_SUFFIX)}"[:63]
        cursor.execute(_retarget(definition, name, f'"{child}"', parent, f'"{partition}"'))


def copy_statistics(cursor, source: str, target: str, name_of: Callable[[str], str]) -> None:
    """Define ``source``'s extended statistics (migration 0007's) on ``target`` too, each
    named ``name_of(its name)``, with its statistics target. The planner estimates a
    partitioned log's scans partition by partition from each partition's own statistics, so
    the parent and every partition carry them."""
    for name, definition, size in statistics(cursor, source):
        pattern = (
            rf"^CREATE STATISTICS (\S+\.)?{re.escape(name)} (.+) "
            rf"FROM (\S+\.)?\"?{re.escape(source)}\"?$"
        )
        match = re.match(pattern, definition)
        if not match:
            raise ValueError(f"unexpected statistics definition: {definition}")
        new_name = name_of(name)[:63]
        cursor.execute(f'CREATE STATISTICS "{new_name}" {match[2]} FROM "{target}"')
        if size >= 0:
            cursor.execute(f'ALTER STATISTICS "{new_name}" SET STATISTICS {int(size)}')


def _retarget(definition: str, name: str, new_name: str, table: str, new_table: str) -> str:
    """``CREATE INDEX name ON [ONLY] schema.table ...`` for another name and table."""
    pattern = rf"^CREATE INDEX {re.escape(name)} ON (ONLY )?(\S+\.)?{re.escape(table)} "
    rewritten, count = re.subn(pattern, f"CREATE INDEX {new_name} ON {new_table} ", definition)
    if count != 1:
        raise ValueError(f"unexpected index definition: {definition}")
    return rewritten


def create_parent(cursor, source: str, target: str, *, source_suffix="", suffix="") -> None:
    """Create ``target`` partitioned by month, shaped like the plain table ``source``: its
    columns and defaults, its foreign keys, its search indexes and extended statistics
    (migration 0007's, PostgreSQL-only ones included), the primary key
    ``(id, connect_time)``, the id-time CHECK and ``cl_connection_idx``. An index named
    ``<name><source_suffix>`` on ``source`` is made as ``<name><suffix>`` (statistics too).
    Partitions are made separately (``storage.partitions``)."""
    cursor.execute(
        f'CREATE TABLE "{target}" (LIKE "{source}" INCLUDING DEFAULTS) '
        f"PARTITION BY RANGE (connect_time)"
    )
    cursor.execute(
        f'ALTER TABLE "{target}" ADD CONSTRAINT "{LOG_TABLE}_pkey{suffix}" '
        f"PRIMARY KEY (id, connect_time)"
    )
    cursor.execute(f'ALTER TABLE "{target}" ADD CONSTRAINT {ID_TIME_CHECK} {_ID_TIME}')
    for name, definition in foreign_keys(cursor, source):
        cursor.execute(f'ALTER TABLE "{target}" ADD CONSTRAINT "{name}" {definition}')
    for name, definition in search_indexes(cursor, source):
        original = name.removesuffix(source_suffix)
        if original == CONNECTION_INDEX:
            continue
        cursor.execute(_retarget(definition, name, f'"{original}{suffix}"', source, f'"{target}"'))
    cursor.execute(
        f'CREATE INDEX "{CONNECTION_INDEX}{suffix}" ON "{target}" (connection_id) '
        f"WHERE connection_id IS NOT NULL"
    )
    copy_statistics(cursor, source, target, lambda name: name.removesuffix(source_suffix) + suffix)


def rename_indexes(cursor, table: str, old_suffix: str, new_suffix: str) -> None:
    """Rename ``table``'s indexes, its primary key and its extended statistics from
    ``<name><old_suffix>`` to ``<name><new_suffix>`` (their names are unique per schema: two
    tables that stand in for each other cannot both hold them)."""
    cursor.execute(
        """SELECT c.relname, k.conname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
           WHERE i.indrelid = %s::regclass""",
        [table],
    )
    for index_name, constraint in cursor.fetchall():
        original = index_name.removesuffix(old_suffix) if old_suffix else index_name
        if old_suffix and original == index_name:
            continue
        new_name = original + new_suffix
        if constraint:
            cursor.execute(
                f'ALTER TABLE "{table}" RENAME CONSTRAINT "{constraint}" TO "{new_name}"'
            )
        else:
            cursor.execute(f'ALTER INDEX "{index_name}" RENAME TO "{new_name}"')
    for name, _, _ in statistics(cursor, table):
        original = name.removesuffix(old_suffix) if old_suffix else name
        if old_suffix and original == name:
            continue
        cursor.execute(f'ALTER STATISTICS "{name}" RENAME TO "{original + new_suffix}"')
