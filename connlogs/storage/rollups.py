"""Hourly rollups of the connection log: kept by triggers, rebuilt on demand, read by the chart.

Every statement that inserts, updates or deletes log rows changes the rollup in the same
transaction (a trigger per statement on PostgreSQL, reading its transition tables; a trigger
per row on SQLite), so the rollup is exact for every writer: a disconnect that closes a
session moves it from its open cell to its closed one. Only what no trigger sees is done by
hand: bulk loads with triggers off call ``rebuild``, and retention drops the rollup hours of
the partitions it drops (``delete_hours``).

On PostgreSQL a transaction adds to the stripe ``txid % ROLLUP_STRIPES`` of each hour and
organization it touches, so that two batches written at once seldom wait for each other's
lock on the same rollup row; ``compact`` folds the stripes of past hours into stripe 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection as default_connection
from django.db.models import QuerySet, Sum
from django.db.models.functions import Trunc

from connlogs.storage.cells import CELLS, COLUMNS, Cell, condition_sql
from connlogs.storage.models import ROLLUP_STRIPES, ConnectionRollup

ROLLUP_TABLE = ConnectionRollup._meta.db_table
LOG_TABLE = "connlogs_connectionlog"
_KEY = "hour, organization_id, stripe"
_ADD = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in COLUMNS)
_COLUMN_LIST = ", ".join(COLUMNS)
HOUR = dt.timedelta(hours=1)


def _signed_counts(signed_rows: str, stripe: str) -> str:
    """INSERT ... ON CONFLICT adding the signed counts of ``signed_rows`` (a query with a
    ``sign`` column and the log's columns) to the rollup (PostgreSQL)."""
    counts = ", ".join(
        f"COALESCE(SUM(sign) FILTER (WHERE {condition_sql(cell)}), 0) AS {cell.column}"
        for cell in CELLS
    )
    nonzero = " OR ".join(f"{c} <> 0" for c in COLUMNS)
    return (
        f"INSERT INTO {ROLLUP_TABLE} AS r ({_KEY}, {_COLUMN_LIST}) "
        f"SELECT hour, organization_id, {stripe}, {_COLUMN_LIST} FROM ("
        f"SELECT date_trunc('hour', connect_time, 'UTC') AS hour, organization_id, {counts} "
        f"FROM ({signed_rows}) AS signed GROUP BY 1, 2) AS delta WHERE {nonzero} "
        f"ORDER BY hour, organization_id "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET {_ADD}"
    )


_STRIPE = f"(txid_current() % {ROLLUP_STRIPES})::smallint"
_ROW_COLUMNS = "connect_time, organization_id, type, code, disconnect_time"

# The PostgreSQL statements run by the log's triggers (storage.ddl installs them).
ADD_INSERTED = _signed_counts(f"SELECT 1 AS sign, {_ROW_COLUMNS} FROM new_rows", _STRIPE)
SUBTRACT_DELETED = _signed_counts(f"SELECT -1 AS sign, {_ROW_COLUMNS} FROM old_rows", _STRIPE)
MOVE_UPDATED = _signed_counts(
    f"SELECT -1 AS sign, {_ROW_COLUMNS} FROM old_rows "
    f"UNION ALL SELECT 1 AS sign, {_ROW_COLUMNS} FROM new_rows",
    _STRIPE,
)


def _sqlite_hour(column: str) -> str:
    """The hour of a time as Django writes it in SQLite ("YYYY-MM-DD HH:MM:SS[.ffffff]",
    UTC); by its text, since SQLite's strftime has no answer for 9999-12-31 23:59:59.9."""
    return f"substr({column}, 1, 13) || ':00:00'"


def _sqlite_upsert(row: str, sign: int) -> str:
    hour = _sqlite_hour(f"{row}.connect_time")
    values_ = ", ".join(
        f"CASE WHEN {condition_sql(cell, f'{row}.')} THEN {sign} ELSE 0 END" for cell in CELLS
    )
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS)
    return (
        f"INSERT INTO {ROLLUP_TABLE} ({_KEY}, {_COLUMN_LIST}) "
        f"VALUES ({hour}, {row}.organization_id, 0, {values_}) "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET {add};"
    )


def sqlite_triggers() -> list[str]:
    """The SQLite triggers that keep the rollup (one per row and operation)."""
    moved = " OR ".join(
        f"OLD.{name} IS NOT NEW.{name}"
        for name in ("connect_time", "organization_id", "type", "code", "disconnect_time")
    )
    return [
        f"CREATE TRIGGER connlogs_rollup_insert AFTER INSERT ON {LOG_TABLE} FOR EACH ROW "
        f"BEGIN {_sqlite_upsert('NEW', 1)} END",
        f"CREATE TRIGGER connlogs_rollup_update AFTER UPDATE ON {LOG_TABLE} FOR EACH ROW "
        f"WHEN {moved} BEGIN {_sqlite_upsert('OLD', -1)} {_sqlite_upsert('NEW', 1)} END",
        f"CREATE TRIGGER connlogs_rollup_delete AFTER DELETE ON {LOG_TABLE} FOR EACH ROW "
        f"BEGIN {_sqlite_upsert('OLD', -1)} END",
    ]


SQLITE_TRIGGER_NAMES = (
    "connlogs_rollup_insert",
    "connlogs_rollup_update",
    "connlogs_rollup_delete",
)


def _range_sql(start: dt.datetime | None, end: dt.datetime | None) -> tuple[str, list]:
    parts, params = [], []
    if start is not None:
        parts.append("connect_time >= %s")
        params.append(start)
    if end is not None:
        parts.append("connect_time < %s")
        params.append(end)
    return (" AND ".join(parts) or "TRUE"), params


def rebuild(
    start: dt.datetime | None = None, end: dt.datetime | None = None, *, connection=None
) -> None:
    """Recount the rollup of the hours from ``start`` to ``end`` (whole hours, UTC; None:
    unbounded) from the rows, in the caller's transaction. For bulk loads that ran with
    triggers off, and as a repair."""
    connection = connection or default_connection
    where, params = _range_sql(start, end)
    hour_where = where.replace("connect_time", "hour")
    counts = ", ".join(f"SUM(CASE WHEN {condition_sql(cell)} THEN 1 ELSE 0 END)" for cell in CELLS)
    if connection.vendor == "postgresql":
        hour = "date_trunc('hour', connect_time, 'UTC')"
    else:
        hour = _sqlite_hour("connect_time")
        params = [_sqlite_time(value) for value in params]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ROLLUP_TABLE} WHERE {hour_where}", params)
        cursor.execute(
            f"INSERT INTO {ROLLUP_TABLE} ({_KEY}, {_COLUMN_LIST}) "
            f"SELECT {hour}, organization_id, 0, {counts} FROM {LOG_TABLE} "
            f"WHERE {where} GROUP BY 1, 2",
            params,
        )


def _sqlite_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def delete_hours(start: dt.datetime | None, end: dt.datetime, *, connection=None) -> int:
    """Forget the rollup of the hours from ``start`` (None: all before) to ``end`` (whole
    hours): for rows that left without a trigger seeing them (a dropped partition)."""
    found = ConnectionRollup.objects.using((connection or default_connection).alias)
    found = found.filter(hour__lt=end)
    if start is not None:
        found = found.filter(hour__gte=start)
    deleted, _ = found.delete()
    return deleted


def compact(before: dt.datetime, *, connection=None) -> int:
    """Fold the stripes of the hours before ``before`` into stripe 0 (PostgreSQL); the
    number of rollup rows folded away. Readers see the same sums before and after."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return 0
    summed = ", ".join(f"SUM({c})" for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH folded AS (DELETE FROM {ROLLUP_TABLE} WHERE hour < %s AND stripe <> 0 "
            f"RETURNING *) INSERT INTO {ROLLUP_TABLE} AS r ({_KEY}, {_COLUMN_LIST}) "
            f"SELECT hour, organization_id, 0, {summed} FROM folded GROUP BY 1, 2 "
            f"ORDER BY 1, 2 ON CONFLICT ({_KEY}) DO UPDATE SET {_ADD} RETURNING 1",
            [before],
        )
        return cursor.rowcount


def cells_matching(
    types: Iterable[str] | None, results: Iterable[str] | None, open_: bool | None
) -> list[Cell]:
    """The cells of rows of one of ``types`` with one of ``results``, open or closed agent
    sessions only (``open_``; None: any row). None for a dimension: any value."""
    found = []
    for cell in CELLS:
        if types is not None and cell.type not in types:
            continue
        if results is not None and cell.result not in results:
            continue
        if open_ is not None and cell.open is not open_:
            continue
        found.append(cell)
    return found


def counts_query(
    cells: Iterable[Cell],
    organization_ids: Iterable | None,
    start: dt.datetime,
    end: dt.datetime,
    kind: str,
    tzinfo: dt.tzinfo,
    *,
    using: str = "default",
) -> QuerySet:
    """The counts of ``cells`` in the hours ``start`` <= hour < ``end`` (whole UTC hours)
    of ``organization_ids`` (None: every organization), per ``Trunc(kind)`` bucket in
    ``tzinfo``: one row per bucket, ``{"bucket", "n_<type>": count, ...}`` (``triples``
    reads them). One query over hours x organizations x stripes rollup rows, whatever the
    number of log rows."""
    rows = ConnectionRollup.objects.using(using).filter(hour__gte=start, hour__lt=end)
    if organization_ids is not None:
        rows = rows.filter(organization_id__in=list(organization_ids))
    by_type: dict[str, list[str]] = {}
    for cell in cells:
        by_type.setdefault(cell.type, []).append(cell.column)
    if not by_type:
        return rows.none().values("hour")
    sums = {
        f"n_{kind_name}": sum((Sum(column) for column in columns[1:]), Sum(columns[0]))
        for kind_name, columns in by_type.items()
    }
    return (
        rows.annotate(bucket=Trunc("hour", kind, tzinfo=tzinfo))
        .values("bucket")
        .annotate(**sums)
        .order_by()
    )


def triples(row: dict) -> list[tuple[dt.datetime, str, int]]:
    """``(bucket, type, count)`` of a row of ``counts_query``, types with a count only."""
    return [
        (row["bucket"], name[2:], count)
        for name, count in row.items()
        if name.startswith("n_") and count
    ]
