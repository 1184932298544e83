"""Keys whose row is gone: cleared after retention dropped their month (PostgreSQL).

A dropped partition takes its rows without firing the log's delete trigger, so the key table
keeps their keys (``storage.ddl``). Such a key is harmless to merges: ingest finds rows
through keys joined to the log, so a key without its row finds nothing, and a new row of
the same connection takes the key over (the insert trigger). It only takes room. Clearing
them one by one cost two thirds of a monthly purge (21.8 s of 32.6 s for a 324,000-row
month at 1M rows), so retention drops its months, trims its rows and the change feed
first, and clears the keys last (``retention.purge``), a batch per short transaction:

1. ``stale_keys``: the next keys older than the cutoff whose row is gone, oldest first, read
   through the key table's time index (each row probe is pruned to one partition, the one
   that now holds that month's time: the DEFAULT partition), without locks;
2. ``delete_keys``: those keys, found where the walk read them, locked in key order (the
   order in which ingest locks keys, so the two never wait on each other in a cycle) and
   deleted **only if they still name a gone row**. A connection that took a key over
   meanwhile (a new connect of a reused ``connection_id``) changed its ``log_id``; the
   locked row is re-read at its newest version, no longer matches, and stays.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import transaction

from connlogs.storage.ddl import KEY_COLUMNS, KEY_TABLE, LOG_TABLE


@dataclass(frozen=True)
class StaleKey:
    """A key and the gone row it names; ``connect_time`` orders the walk, ``location`` is
    the key row's place in its table (``ctid``) when it was read."""

    connect_time: dt.datetime
    connection_id: uuid.UUID
    workspace_id: uuid.UUID
    agent_name: str
    log_id: uuid.UUID
    location: str


def stale_keys(cursor, before: dt.datetime, after: StaleKey | None, limit: int) -> list[StaleKey]:
    """Up to ``limit`` keys older than ``before`` (and after ``after`` in the walk's order:
    connect time, then key) whose row is gone. Reads only; the caller's transaction."""
    where, params = "", []
    if after is not None:
        where = f"AND k.connect_time >= %s AND (k.connect_time, {KEY_COLUMNS}) > (%s, %s, %s, %s)"
        params = [after.connect_time, after.connect_time, *_key(after)]
    cursor.execute(
        f"SELECT k.connect_time, {_prefixed('k')}, k.log_id, k.ctid::text FROM {KEY_TABLE} AS k "
        f"WHERE k.connect_time < %s {where} AND NOT EXISTS ("
        f"SELECT 1 FROM {LOG_TABLE} AS l WHERE l.id = k.log_id "
        f"AND l.connect_time = k.connect_time) "
        f"ORDER BY k.connect_time, {_prefixed('k')} LIMIT %s",
        [before, *params, limit],
    )
    return [StaleKey(*row) for row in cursor.fetchall()]


def delete_keys(cursor, keys: list[StaleKey]) -> int:
    """Delete ``keys`` that still name the same gone row, locked in key order first; how
    many. In the caller's transaction.

    The key rows are found where the walk read them (``ctid``: heap pages in time order, not
    a random probe of the primary key per key, which cost three quarters of the time at 10M)
    and must still name one of the batch's gone rows: a key updated since (taken over by a
    new row, whose id is never a gone row's) has moved and is re-checked at its newest
    version by the lock, so it no longer matches and stays."""
    if not keys:
        return 0
    params = [
        "{" + ",".join(f'"{key.location}"' for key in keys) + "}",
        "{" + ",".join(str(key.log_id) for key in keys) + "}",
    ]
    where = "k.ctid = ANY(%s::tid[]) AND k.log_id = ANY(%s::uuid[])"
    cursor.execute(
        f"SELECT 1 FROM {KEY_TABLE} AS k WHERE {where} ORDER BY {_prefixed('k')} FOR UPDATE",
        params,
    )
    cursor.execute(f"DELETE FROM {KEY_TABLE} AS k WHERE {where}", params)
    return cursor.rowcount


def clear(before: dt.datetime, *, batch_size: int, connection) -> int:
    """Delete every key older than ``before`` whose row is gone, ``batch_size`` per
    transaction; how many."""
    cleared, after = 0, None
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            found = stale_keys(cursor, before, after, batch_size)
            cleared += delete_keys(cursor, found)
        if len(found) < batch_size:
            return cleared
        after = found[-1]


def _key(key: StaleKey) -> tuple:
    return key.connection_id, key.workspace_id, key.agent_name


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in KEY_COLUMNS.split(","))
