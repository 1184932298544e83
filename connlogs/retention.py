"""How long connection logs are kept: ``CONNLOGS_RETENTION`` is parsed here and only here.

``"90d"``, ``"12h"``, ``"2w"``, ``"30m"`` keep rows whose ``connect_time`` is newer than that;
an empty value (the default) or ``"forever"`` keeps every row. ``manage.py
purge_connection_logs`` deletes what is older and ``summary()`` is what the list page's footer
shows.

On PostgreSQL the log is partitioned by month (``storage.partitions``): a month wholly past
the cutoff is detached and dropped whole (no row-by-row delete, no dead rows to vacuum), then
its keys and rollup hours are cleared; the rows left past the cutoff (in the month the
cutoff falls in, and in the DEFAULT partition) are deleted a few thousand per short
transaction, as on SQLite, where the log is one table. The change feed's entries recorded
before the cutoff are trimmed after the rows (``feed.trim``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from connlogs import feed, timebounds, transient
from connlogs.models import CONNECTION_KEY, ConnectionKey, ConnectionLog
from connlogs.storage import ddl, keys, partitions, rollups

KEEP_FOREVER = ("", "forever")
_DURATION = re.compile(r"^([0-9]+)\s*([mhdw])$")
_UNITS = {
    "m": ("minute", dt.timedelta(minutes=1)),
    "h": ("hour", dt.timedelta(hours=1)),
    "d": ("day", dt.timedelta(days=1)),
    "w": ("week", dt.timedelta(weeks=1)),
}
DEFAULT_BATCH_SIZE = 5000
# About the whole of datetime's range (years 1 to 9999); more does not fit in a timedelta.
MAX_RETENTION = dt.timedelta(days=3_000_000)


def parse_retention(text: str | None) -> dt.timedelta | None:
    """``"90d"`` -> 90 days; ``""``/``"forever"`` -> None (keep forever); else ValueError."""
    value = (text or "").strip().lower()
    if value in KEEP_FOREVER:
        return None
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"{text!r} is not a retention: use a whole number and a unit, m (minutes), "
            'h (hours), d (days) or w (weeks), e.g. "90d"; empty or "forever" keeps everything'
        )
    amount = int(match.group(1))
    if amount == 0:
        raise ValueError(f"{text!r} would delete every row: use a positive duration")
    unit = _UNITS[match.group(2)][1]
    if amount > MAX_RETENTION // unit:
        raise ValueError(f"{text!r} is longer than the calendar: use at most 3,000,000 days")
    return amount * unit


def describe(text: str | None) -> str:
    """``"90d"`` -> ``"90 days"``; keep-forever values -> ``"forever"``."""
    period = parse_retention(text)
    if period is None:
        return "forever"
    amount, unit = _DURATION.match(text.strip().lower()).groups()
    word = _UNITS[unit][0]
    return f"{int(amount)} {word}{'' if int(amount) == 1 else 's'}"


ROW, PARTITION = "row", "partition"
GRANULARITIES = (ROW, PARTITION)


def granularity() -> str:
    """``CONNLOGS_RETENTION_GRANULARITY``: ``"row"`` (the default) or ``"partition"``; any
    other value is a configuration error."""
    value = (settings.CONNLOGS_RETENTION_GRANULARITY or ROW).strip().lower()
    if value not in GRANULARITIES:
        raise ImproperlyConfigured(
            f"CONNLOGS_RETENTION_GRANULARITY: {value!r} is not one of {', '.join(GRANULARITIES)}"
        )
    return value


def deletion_cutoff(before: dt.datetime, how: str = ROW) -> dt.datetime:
    """Where a purge for the cutoff ``before`` deletes up to: ``before`` itself (``"row"``),
    or the first instant (UTC) of ``before``'s calendar month (``"partition"``): the rows of
    the month the cutoff falls in are kept, readable, until that whole month is past the
    window and is dropped at once. The same rule on every database, so a deployment keeps
    rows for the same time on SQLite (one table, deleted by rows) as on PostgreSQL."""
    if how == PARTITION:
        return partitions.month_start(before)
    return before


def kept_until(before: dt.datetime, period: dt.timedelta) -> dt.datetime:
    """With ``"partition"``: when the rows kept past the window at the cutoff ``before``
    (those of its month) are deleted: the moment their whole month is past the window."""
    return partitions.next_month(partitions.month_start(before)) + period


def retention_period() -> dt.timedelta | None:
    """The configured retention; a bad ``CONNLOGS_RETENTION`` is a configuration error."""
    try:
        return parse_retention(settings.CONNLOGS_RETENTION)
    except ValueError as error:
        raise ImproperlyConfigured(f"CONNLOGS_RETENTION: {error}") from None


def cutoff(period: dt.timedelta | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """Rows that connected before this time are past retention (None: nothing is)."""
    if period is None:
        return None
    # A retention longer than the time since year 1 keeps every row (the cutoff is year 1).
    return timebounds.shift(now or timezone.now(), -period)


@dataclass(frozen=True)
class RetentionSummary:
    """What the list page's footer says about retention."""

    text: str  # "Connection logs are kept for 90 days." / "... kept forever."
    period: dt.timedelta | None
    cutoff: dt.datetime | None
    oldest: dt.datetime | None  # connect_time of the oldest row kept (None: no rows)

    def __str__(self) -> str:
        return self.text


def summary(queryset: QuerySet | None = None) -> RetentionSummary:
    """Retention in words and the oldest row kept, of ``queryset`` (default: all rows).

    Pass the rows the viewer may see (``ConnectionLog.objects.visible_to(user)``) so the
    oldest time is that of a row they can find. One index lookup.
    """
    period = retention_period()
    rows = ConnectionLog.objects.all() if queryset is None else queryset
    oldest = rows.order_by("connect_time").values_list("connect_time", flat=True).first()
    if period is None:
        text = "Connection logs are kept forever."
    else:
        text = f"Connection logs are kept for {describe(settings.CONNLOGS_RETENTION)}."
        if granularity() == PARTITION:
            text = text[:-1] + (
                ", deleted by whole calendar months (UTC): a row is kept until its whole "
                "month is past that, at most a month longer."
            )
    return RetentionSummary(text, period, cutoff(period), oldest)


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    batches: int
    # The monthly partitions dropped whole, and about how many rows they held.
    dropped: tuple[partitions.Partition, ...] = ()
    dropped_rows: int = 0
    # Keys of rows that are gone (dropped months), cleared after the rows.
    keys_cleared: int = 0


def expired(before: dt.datetime) -> QuerySet:
    """Rows that connected before ``before``, read from the primary (they will be deleted)."""
    return ConnectionLog.objects.using(router.db_for_write(ConnectionLog)).filter(
        connect_time__lt=before
    )


def _partitioned(using: str) -> bool:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return ddl.is_partitioned(cursor)


def expired_partitions(before: dt.datetime, using: str | None = None) -> list[tuple]:
    """``(partition, estimated rows)`` of the months that end at or before ``before``
    (PostgreSQL's partitioned log; ``[]`` elsewhere), the attached ones and any a stopped
    drop left detached (``partitions.detached_months``). Estimates from the planner's
    statistics: counting a month would read it."""
    using = using or router.db_for_write(ConnectionLog)
    if not _partitioned(using):
        return []
    with connections[using].cursor() as cursor:
        months = partitions.detached_months(cursor) + partitions.partitions(cursor)
        found = [p for p in months if not p.is_default and p.upper <= before]
        estimates = []
        for partition in found:
            cursor.execute(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
                [partition.name],
            )
            estimates.append(cursor.fetchone()[0])
    return list(zip(found, estimates, strict=True))


def _delete_batch(using: str, span: tuple[dt.datetime, dt.datetime]) -> int:
    """Delete the rows that connected within ``span`` (oldest, newest; all expired) in one
    statement, its own transaction; how many were deleted.

    The rows' connection keys are locked first, in ``CONNECTION_KEY`` order, the order in
    which event ingest locks the keys of the rows a disconnect updates: a purge batch and an
    event batch then never each hold a row the other waits for (PostgreSQL would abort one
    of them as a deadlock). On SQLite (no key table) the rows themselves are locked in that
    order. Both scans read the batch's stretch of a time index.
    """
    rows = ConnectionLog.objects.using(using).filter(connect_time__range=span)
    with transaction.atomic(using=using):
        if _partitioned(using):
            keys = ConnectionKey.objects.using(using).filter(connect_time__range=span)
            list(keys.select_for_update().order_by(*_KEY_FIELDS).values_list("log_id"))
            count, _ = rows.delete()
        else:
            locked = rows.select_for_update().order_by(*CONNECTION_KEY).values("id")
            count, _ = rows.filter(id__in=locked).delete()
    return count


_KEY_FIELDS = ("connection_id", "workspace_id", "agent_name")


def _drop_expired(using: str, before: dt.datetime) -> tuple[tuple, int]:
    """Drop the months past ``before`` whole and recount their rollup hours (rows that
    arrived for them since went to the DEFAULT partition). Their keys are cleared last
    (``storage.keys``)."""
    found = expired_partitions(before, using)
    connection = connections[using]
    for partition, _ in found:
        if partition.attached:
            partitions.drop(partition.name, connection=connection)
        else:
            partitions.drop_detached(partition.name, connection=connection)
        with transaction.atomic(using=using):
            rollups.rebuild(partition.lower, partition.upper, connection=connection)
    return tuple(p for p, _ in found), sum(rows for _, rows in found)


def clear_stale_keys(before: dt.datetime, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Delete the keys older than ``before`` whose rows are gone (dropped with their month),
    a batch per transaction; how many (0 where the log is not partitioned)."""
    using = router.db_for_write(ConnectionLog)
    if not _partitioned(using):
        return 0
    return keys.clear(before, batch_size=batch_size, connection=connections[using])


def purge(
    before: dt.datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int, int], None] | None = None,
    clear_keys: bool = True,
) -> PurgeResult:
    """Delete the rows that connected before ``before``: on PostgreSQL the months wholly
    before it first, dropped whole (``expired_partitions``); then the rest oldest first, a
    batch of about ``batch_size`` rows per DELETE (the ``batch_size`` oldest, and any that
    connected at the same time as the newest of them), each batch its own short
    transaction: writers and readers never wait on a long-held lock, and an interrupted
    purge leaves the log contiguous (newest rows kept).

    Last, unless ``clear_keys`` is false, the keys of the dropped months are cleared
    (``clear_stale_keys``): the rows are gone before that starts, and merges are exact
    either way (``storage.keys``).

    A batch that PostgreSQL aborts as a deadlock or serialization failure is run again
    (``transient.retried``), as ingest's are; it raises the error after the last attempt.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    using = router.db_for_write(ConnectionLog)
    dropped, dropped_rows = _drop_expired(using, before)
    oldest_first = (
        expired(before).order_by("connect_time", "id").values_list("connect_time", flat=True)
    )
    deleted = batches = 0
    while True:
        times = list(oldest_first[:batch_size])
        if not times:
            # The change feed's entries recorded before the cutoff go with the rows.
            feed.trim(before=before, batch_size=batch_size)
            cleared = clear_stale_keys(before, batch_size=batch_size) if clear_keys else 0
            return PurgeResult(deleted, batches, dropped, dropped_rows, cleared)
        count = transient.retried(functools.partial(_delete_batch, using, (times[0], times[-1])))
        deleted += count
        batches += 1
        if on_batch is not None:
            on_batch(batches, deleted)
