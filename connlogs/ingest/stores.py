"""The stores: how a batch's rows are read, locked and written.

* ``OrmStore``: through the ORM, on any database (SQLite);
* ``PostgresStore``: on PostgreSQL, array parameters and COPY into a staging table, a
  handful of statements per batch whatever its size.

Both write the same rows and answer the same (tests/test_ingest_speed_paths.py compares
them). A fixed lock and insert order (connection, workspace, agent) keeps two batches that
share connections from deadlocking.

On PostgreSQL the log is partitioned by month and the merge key lives in the key table
(``storage.ddl``): a connection's row is found through its key, whatever month it is in,
and locking the key serializes the writers of one connection. The key is added by the
log's insert trigger; a writer that loses the race to add it gets a ``unique_violation``
and its batch is run again (``transient``), then finds the winner's row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connections

from connlogs import pgtypes, transient
from connlogs.ingest.rows import (
    COLUMNS,
    LOCKED_FIELDS,
    MERGED_COLUMNS,
    MERGED_FIELDS,
    Row,
    WorkspaceRef,
    column_values,
    insert_order,
    merged_values,
)
from connlogs.models import CONNECTION_KEY, ConnectionLog, User, Workspace
from connlogs.storage import ddl


class OrmStore:
    """Reads, locks and writes log rows through the ORM (SQLite, and any other database).

    A fixed lock order (connection, workspace, agent) keeps two batches that share
    connections from deadlocking; new rows are inserted in the same order.
    """

    def __init__(self, alias: str):
        self.alias = alias
        self.connection = connections[alias]

    def workspaces(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, WorkspaceRef]:
        found = Workspace.objects.filter(id__in=ids).values_list(*WorkspaceRef._fields)
        return {ref.id: ref for ref in map(WorkspaceRef._make, found)}

    def known_users(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        return set(User.objects.filter(id__in=ids).values_list("id", flat=True))

    def lock(self, keys: set[tuple]) -> dict[tuple, Row]:
        rows = (
            ConnectionLog.objects.using(self.alias)
            .select_for_update()
            .filter(connection_id__in={key[0] for key in keys})
            .order_by(*CONNECTION_KEY)
            .values_list(*LOCKED_FIELDS)
        )
        return _wanted(rows, keys)

    def insert(self, web_rows: list[Row], new_rows: list[Row]) -> set[uuid.UUID]:
        """Write the rows; the ids of ``new_rows`` that were inserted (not lost to a race)."""
        objects = ConnectionLog.objects.using(self.alias)
        if web_rows:
            objects.bulk_create(map(_instance, web_rows), batch_size=500)
        if not new_rows:
            return set()
        new_rows = sorted(new_rows, key=insert_order)
        objects.bulk_create(map(_instance, new_rows), batch_size=500, ignore_conflicts=True)
        return set(objects.filter(id__in=[row.id for row in new_rows]).values_list("id", flat=True))

    def update(self, rows: list[Row]) -> None:
        """Store the merged disconnect fields: one UPDATE ... FROM (VALUES ...) per 500 rows.

        ``bulk_update`` builds a CASE WHEN per row and field (1,300 expressions for a batch
        with 440 disconnects); this sends the same values as plain parameters. UPDATE ... FROM
        works on PostgreSQL and SQLite >= 3.33. On PostgreSQL the casts give the VALUES
        columns their types (a column of NULLs would otherwise be text); SQLite needs none
        (and would read a "datetime" cast as a number).
        """
        connection = self.connection
        meta = ConnectionLog._meta
        fields = [meta.pk] + [meta.get_field(name) for name in MERGED_FIELDS]
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        if connection.vendor == "postgresql":
            row_sql = "(" + ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields) + ")"
        else:
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        assignments = ", ".join(
            f"{quote(f.column)} = v.column{i}" for i, f in enumerate(fields[1:], start=2)
        )
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params = [
                field.get_db_prep_save(getattr(row, field.attname), connection)
                for row in chunk
                for field in fields
            ]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET {assignments} "
                    f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v "
                    f"WHERE {table}.{quote(meta.pk.column)} = v.column1",
                    params,
                )


def _wanted(rows: Iterable[tuple], keys: set[tuple]) -> dict[tuple, Row]:
    """The locked rows whose whole key is one of ``keys`` (the lock is by connection id)."""
    found = {}
    for values_ in rows:
        row = Row.existing(values_)
        if row.key in keys:
            found[row.key] = row
    return found


def _instance(row: Row) -> ConnectionLog:
    return ConnectionLog(**dict(zip(COLUMNS, column_values(row), strict=True)))


def _uuid_array(ids: Iterable[uuid.UUID]) -> str:
    """A ``uuid[]`` literal: one parameter, where psycopg would quote an ``IN`` list or a
    list parameter element by element in Python (1,000 ids: ~2 ms a query)."""
    return "{" + ",".join(map(str, ids)) + "}"


class PostgresStore(OrmStore):
    """The same reads and writes in a few statements that carry a whole batch.

    * reads and the lock: ``= ANY('{...}'::uuid[])``, one parameter instead of an ``IN``
      list of up to 1,000;
    * insert: the rows are COPYed into a session-local staging table (formatted by psycopg
      in C; a multi-row INSERT quoted 16,000 parameters in Python), then moved with one
      ``INSERT ... SELECT ... ORDER BY key`` (the log's trigger adds the keys);
    * update: the merged values are COPYed the same way and applied by one
      ``UPDATE ... FROM``.

    The staging table is ``ON COMMIT DELETE ROWS`` and emptied by the statement that reads
    it (``DELETE ... RETURNING``), so no row outlives its statement, savepoint or batch.
    It is created (once per database session) from the log table's columns without their
    NOT NULL constraints, so merged values alone fit in it too.
    """

    STAGING = "connlogs_event_rows"

    def __init__(self, alias: str):
        super().__init__(alias)
        meta, quote = ConnectionLog._meta, self.connection.ops.quote_name
        self.table = quote(meta.db_table)
        self.columns = ", ".join(quote(meta.get_field(name).column) for name in COLUMNS)
        self.key_order = ", ".join(quote(n) for n in CONNECTION_KEY)
        self.staged = False
        self.loaders = pgtypes.c_loaders()

    def _read(self, sql: str, params: list) -> list[tuple]:
        with self.connection.cursor() as cursor:
            pgtypes.use_loaders(cursor, self.loaders)
            cursor.execute(sql, params)
            return cursor.fetchall()

    def workspaces(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, WorkspaceRef]:
        meta, quote = Workspace._meta, self.connection.ops.quote_name
        columns = ", ".join(quote(meta.get_field(name).column) for name in WorkspaceRef._fields)
        found = self._read(
            f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote('id')} = ANY(%s::uuid[])",
            [_uuid_array(ids)],
        )
        return {ref.id: ref for ref in map(WorkspaceRef._make, found)}

    def known_users(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        quote = self.connection.ops.quote_name
        found = self._read(
            f"SELECT {quote('id')} FROM {quote(User._meta.db_table)} "
            f"WHERE {quote('id')} = ANY(%s::uuid[])",
            [_uuid_array(ids)],
        )
        return {values_[0] for values_ in found}

    def lock(self, keys: set[tuple]) -> dict[tuple, Row]:
        """The rows of ``keys`` that exist, found and locked through their keys (in key
        order); a key whose row is gone (a dropped partition) is not one.

        The log rows are locked too, not only the keys: a writer that waited for another's
        lock must read the row as that one left it. Locked, a row updated meanwhile is read
        again at its newest version (PostgreSQL's recheck of locked rows); a row only joined
        would be read as the statement's snapshot saw it before the wait, and a second
        disconnect would overwrite the first one's time and code.

        A plain log (converted online while this release runs) has no complete key table
        yet: its rows are found and locked by ``connection_id``, its unique index on the
        merge key stands in for the key table."""
        quote = self.connection.ops.quote_name
        if not ddl.keeps_derived_tables(self.connection):
            rows = self._read(
                f"SELECT {', '.join(map(quote, LOCKED_FIELDS))} FROM {self.table} "
                f"WHERE {quote('connection_id')} = ANY(%s::uuid[]) "
                f"ORDER BY {self.key_order} FOR UPDATE",
                [_uuid_array({key[0] for key in keys})],
            )
            return _wanted(rows, keys)
        columns = ", ".join(
            f"k.{quote(name)}" if name in CONNECTION_KEY else f"l.{quote(name)}"
            for name in LOCKED_FIELDS
        )
        rows = self._read(
            f"SELECT {columns} FROM {ddl.KEY_TABLE} AS k JOIN {self.table} AS l "
            f"ON l.id = k.log_id AND l.connect_time = k.connect_time "
            f"WHERE k.connection_id = ANY(%s::uuid[]) "
            f"ORDER BY {self.key_order} FOR UPDATE OF k, l",
            [_uuid_array({key[0] for key in keys})],
        )
        return _wanted(rows, keys)

    def _stage(self, cursor, columns: str, rows: Iterable[tuple]) -> None:
        if not self.staged:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGING} ON COMMIT DELETE ROWS "
                f"AS SELECT {self.columns} FROM {self.table} WITH NO DATA"
            )
            self.staged = True
        # Django wraps execute() but not copy(), which the cursor hands through to psycopg:
        # wrapped here, a connection lost mid-COPY (a crashed primary behind PgBouncer) is
        # Django's OperationalError, a 503 with Retry-After like any other, not a 500.
        with self.connection.wrap_database_errors:
            with cursor.copy(f"COPY {self.STAGING} ({columns}) FROM STDIN") as copy:
                for values_ in rows:
                    copy.write_row(values_)

    def insert(self, web_rows: list[Row], new_rows: list[Row]) -> set[uuid.UUID]:
        """Write the rows, in key order; every one is inserted (a connection whose key
        another writer took meanwhile aborts the batch, see the module's docstring)."""
        rows = web_rows + new_rows
        with self.connection.cursor() as cursor:
            self._stage(cursor, self.columns, map(column_values, rows))
            cursor.execute(
                f"WITH staged AS (DELETE FROM {self.STAGING} RETURNING *) "
                f"INSERT INTO {self.table} ({self.columns}) SELECT {self.columns} FROM staged "
                f"ORDER BY {self.key_order}"
            )
        return {row.id for row in new_rows}

    def update(self, rows: list[Row]) -> None:
        """Store the merged fields; ``transient.RowsVanished`` when a row is gone since it
        was locked (its partition was detached meanwhile): the batch is then run again."""
        quote = self.connection.ops.quote_name
        names = ", ".join(map(quote, MERGED_COLUMNS))
        assignments = ", ".join(f"{quote(name)} = merged.{quote(name)}" for name in MERGED_FIELDS)
        with self.connection.cursor() as cursor:
            self._stage(cursor, names, map(merged_values, rows))
            cursor.execute(
                f"WITH merged AS (DELETE FROM {self.STAGING} RETURNING {names}) "
                f"UPDATE {self.table} SET {assignments} FROM merged "
                f"WHERE {self.table}.id = merged.id "
                f"AND {self.table}.connect_time = merged.connect_time"
            )
            if cursor.rowcount != len(rows):
                raise transient.RowsVanished(f"{len(rows) - cursor.rowcount} rows vanished")


def store(alias: str) -> OrmStore:
    """The store for the database ``alias``."""
    if connections[alias].vendor == "postgresql":
        return PostgresStore(alias)
    return OrmStore(alias)
