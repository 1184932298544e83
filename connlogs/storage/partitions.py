"""Monthly partitions of the connection log (PostgreSQL): made ahead, dropped when expired.

The layout is one partition per calendar month (UTC) of ``connect_time``, named
``connlogs_connectionlog_pYYYY_MM``, and a DEFAULT partition for any time outside them (a
row is never refused for its time: years 1 and 9999 are valid connection times).

``ensure`` (``manage.py connection_log_partitions``, from cron or the worker, hourly or
daily) makes the months from this one to ``ahead`` months on. A month is made as a plain
table and then attached (``ATTACH PARTITION`` takes only a SHARE UPDATE EXCLUSIVE lock on
the log, so reads and writes go on); rows of that month that reached the DEFAULT partition
meanwhile are moved into it first, under a short lock of the DEFAULT partition.

``drop`` detaches and drops an expired month. PostgreSQL 15 refuses ``DETACH PARTITION ...
CONCURRENTLY`` while a DEFAULT partition exists ("cannot detach partitions concurrently
when a default partition exists"), so the detach is the plain one: a catalog change that
needs the log's ACCESS EXCLUSIVE lock for milliseconds. It waits at most ``LOCK_TIMEOUT``
for running queries (so it never holds a queue of readers behind it for long) and is tried
again. The detached table's foreign keys are dropped the same way, one at a time (each locks
the table it references), and the DROP then runs on the detached table alone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

from django.db import OperationalError, transaction
from django.db import connection as default_connection
from psycopg.errors import LockNotAvailable

from connlogs.literals import literal
from connlogs.storage.ddl import (
    LOG_TABLE,
    NEXT_SUFFIX,
    copy_indexes,
    copy_statistics,
    drop_table,
    is_partitioned,
)

DEFAULT_PARTITION = f"{LOG_TABLE}_default"
AHEAD_MONTHS = 3
# Below PostgreSQL's deadlock_timeout (1 s by default): a reader queued behind the waiting
# DETACH, while the DETACH waits for a lock that reader holds, is a deadlock cycle. The
# DETACH gives up (and is tried again) before any deadlock check runs, so the check never
# picks a reader as the victim: the reader waits at most this long, and never fails.
LOCK_TIMEOUT = "500ms"
LOCK_ATTEMPTS = 60
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    """A partition of the log: ``lower <= connect_time < upper``; both None for DEFAULT.
    ``attached`` is false for a month's table a drop detached but did not drop
    (``detached_months``)."""

    name: str
    lower: dt.datetime | None
    upper: dt.datetime | None
    attached: bool = True

    @property
    def is_default(self) -> bool:
        return self.lower is None


def month_start(moment: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of ``moment``'s month."""
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: dt.datetime) -> dt.datetime:
    return (month + dt.timedelta(days=32)).replace(day=1)


def partition_name(month: dt.datetime) -> str:
    """The partition of ``month``: ``connlogs_connectionlog_pYYYY_MM`` (whatever table it is
    attached to while the log is converted)."""
    return f"{LOG_TABLE}_p{month:%Y_%m}"


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace(" ", "T")).astimezone(dt.UTC)


def partitions(cursor, parent: str = LOG_TABLE) -> list[Partition]:
    """The partitions of ``parent``, months in order, DEFAULT last."""
    cursor.execute(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass""",
        [parent],
    )
    found = []
    for name, bound in cursor.fetchall():
        match = _BOUND.search(bound or "")
        if match:
            found.append(Partition(name, _parse_time(match[1]), _parse_time(match[2])))
        else:
            found.append(Partition(name, None, None))
    return sorted(found, key=lambda p: (p.is_default, p.lower or dt.datetime.min))


_CURRENT_SCHEMA = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
_MONTH_NAME = re.compile(rf"^{LOG_TABLE}_p(\d{{4}})_(\d{{2}})$")


def detached_months(cursor) -> list[Partition]:
    """The months' tables no longer attached to the log, oldest first: a drop detached them
    and then failed or was stopped (their foreign keys could not be locked in time), so
    their rows are out of every read but still on disk. Retention finishes them
    (``drop_detached``)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
        f"AND relnamespace = {_CURRENT_SCHEMA} AND relname LIKE %s",
        [f"{LOG_TABLE}_p%"],
    )
    found = []
    for (name,) in cursor.fetchall():
        match = _MONTH_NAME.match(name)
        if match:
            month = dt.datetime(int(match[1]), int(match[2]), 1, tzinfo=dt.UTC)
            found.append(Partition(name, month, next_month(month), attached=False))
    return sorted(found, key=lambda p: p.lower)


def _create_like(cursor, parent: str, name: str) -> None:
    """The plain table ``name`` shaped as a partition of ``parent``: its columns, defaults,
    CHECKs, indexes and extended statistics (``<name>_<parent's name>``; the attach adopts
    the indexes and adds the primary key and foreign keys, but statistics are never
    inherited: the planner estimates each partition's scan from its own)."""
    cursor.execute(
        f'CREATE TABLE "{name}" (LIKE "{parent}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
    )
    copy_indexes(cursor, parent, name)
    copy_statistics(
        cursor, parent, name, lambda statistic: f"{name}_{statistic.removesuffix(NEXT_SUFFIX)}"
    )


def create_default(cursor, parent: str = LOG_TABLE) -> None:
    _create_like(cursor, parent, DEFAULT_PARTITION)
    cursor.execute(f'ALTER TABLE "{parent}" ATTACH PARTITION "{DEFAULT_PARTITION}" DEFAULT')


def create_month(cursor, month: dt.datetime, parent: str = LOG_TABLE) -> str:
    """Make the partition of ``month`` (its first instant, UTC), moving its rows out of the
    DEFAULT partition; in the caller's transaction. Returns its name."""
    name = partition_name(month)
    upper = next_month(month)
    default = next((p.name for p in partitions(cursor, parent) if p.is_default), None)
    _create_like(cursor, parent, name)
    if default:
        # Writers of this month wait here (they go to the DEFAULT partition until the
        # attach); readers do not.
        cursor.execute(f'LOCK TABLE "{default}" IN EXCLUSIVE MODE')
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{default}" WHERE connect_time >= %s '
            f'AND connect_time < %s RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [month, upper],
        )
    # DDL takes no bound parameters (the app's connections bind them on the server): the
    # bounds are written as literals (``literals.literal``: both aware datetimes).
    cursor.execute(
        f'ALTER TABLE "{parent}" ATTACH PARTITION "{name}" '
        f"FOR VALUES FROM ({literal(month)}) TO ({literal(upper)})"
    )
    return name


def ensure(
    now: dt.datetime,
    *,
    ahead: int = AHEAD_MONTHS,
    since: dt.datetime | None = None,
    connection=None,
) -> list[str]:
    """Make the missing partitions from ``since``'s month (default: ``now``'s) to ``ahead``
    months after ``now``'s, each in its own short transaction; their names (none where the
    log is not partitioned: SQLite, or PostgreSQL before migration 0011)."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return []
    first = month_start(since or now)
    last = month_start(now)
    for _ in range(ahead):
        last = next_month(last)
    made = []
    with connection.cursor() as cursor:
        have = {p.lower for p in partitions(cursor) if not p.is_default}
    month = first
    while month <= last:
        if month not in have:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                made.append(create_month(cursor, month))
        month = next_month(month)
    return made


def drop(name: str, *, connection=None) -> None:
    """Detach partition ``name`` from the log and drop it (``drop_detached``); the detach is
    a short transaction that waits at most ``LOCK_TIMEOUT`` for its lock, tried again."""
    connection = connection or default_connection
    _briefly(connection, f'ALTER TABLE "{LOG_TABLE}" DETACH PARTITION "{name}"')
    drop_detached(name, connection=connection)


def drop_detached(name: str, *, connection=None) -> None:
    """Drop table ``name``, which no query of the log reads any more (a detached month, the
    plain table an online conversion left), its foreign keys first, one by one.

    Dropping a foreign key locks the table it references (users, workspaces,
    organizations: ACCESS EXCLUSIVE, to remove that table's triggers). A DROP TABLE taking
    them all in one transaction could hold one while a writer's foreign-key checks held
    another, each waiting for the other (a deadlock, seen in CI). One key per short
    transaction (``LOCK_TIMEOUT``, tried again) makes no such cycle; the DROP then locks
    the table alone. Outside a transaction.
    """
    connection = connection or default_connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = "
            "(SELECT oid FROM pg_class WHERE relname = %s AND relkind = 'r' "
            f"AND relnamespace = {_CURRENT_SCHEMA})",
            [name],
        )
        foreign_keys = [row[0] for row in cursor.fetchall()]
    for constraint in foreign_keys:
        _briefly(connection, f'ALTER TABLE "{name}" DROP CONSTRAINT "{constraint}"')
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        drop_table(cursor, name)


def _briefly(connection, statement: str) -> None:
    """Run ``statement`` in a transaction of its own that waits at most ``LOCK_TIMEOUT`` for
    its locks; tried again (up to ``LOCK_ATTEMPTS`` times, waiting 1, 2 … 5 s between) while
    it cannot get them. Raises the last ``OperationalError``, or any other at once."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(statement)
            return
        except OperationalError as error:
            if attempt == LOCK_ATTEMPTS or not isinstance(error.__cause__, LockNotAvailable):
                raise
            time.sleep(min(attempt, 5))


def add_index_to_partitions(schema_editor, model, index) -> None:
    """Add ``index`` to a partitioned table without locking writers out: the parent's index
    ``ON ONLY`` the parent (no build), each partition's built ``CONCURRENTLY`` and attached
    (``CREATE INDEX CONCURRENTLY`` refuses a partitioned table). Outside a transaction."""
    table = model._meta.db_table
    sql = str(index.create_sql(model, schema_editor))
    head = f'CREATE INDEX "{index.name}" ON "{table}" '
    if not sql.startswith(head):
        raise ValueError(f"unexpected index definition: {sql}")
    rest = sql[len(head) :]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{index.name}" ON ONLY "{table}" {rest}')
        for partition in partitions(cursor, table):
            child = f"{partition.name}_{index.name}"[:63]
            cursor.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{child}" ON "{partition.name}" {rest}'
            )
            cursor.execute(f'ALTER INDEX "{index.name}" ATTACH PARTITION "{child}"')
