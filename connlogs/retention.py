"""How long connection logs are kept: ``CONNLOGS_RETENTION`` is parsed here and only here.

``"90d"``, ``"12h"``, ``"2w"``, ``"30m"`` keep rows whose ``connect_time`` is newer than that;
an empty value (the default) or ``"forever"`` keeps every row. ``manage.py
purge_connection_logs`` deletes what is older, a few thousand rows per short transaction, and
``summary()`` is what the list page's footer shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from connlogs import feed, timebounds, transient
from connlogs.models import CONNECTION_KEY, ConnectionLog

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
    return RetentionSummary(text, period, cutoff(period), oldest)


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    batches: int


def expired(before: dt.datetime) -> QuerySet:
    """Rows that connected before ``before``, read from the primary (they will be deleted)."""
    return ConnectionLog.objects.using(router.db_for_write(ConnectionLog)).filter(
        connect_time__lt=before
    )


def _delete_batch(using: str, span: tuple[dt.datetime, dt.datetime]) -> int:
    """Delete the rows that connected within ``span`` (oldest, newest; all expired) in one
    statement, its own transaction; how many were deleted.

    The statement locks the rows in ``CONNECTION_KEY`` order before deleting them, the order
    in which event ingest locks the rows a disconnect updates: a purge batch and an event
    batch then never each hold a row the other waits for (PostgreSQL would abort one of them
    as a deadlock). Both its scans read the batch's stretch of the time index.
    """
    rows = ConnectionLog.objects.using(using).filter(connect_time__range=span)
    locked = rows.select_for_update().order_by(*CONNECTION_KEY).values("id")
    with transaction.atomic(using=using):
        count, _ = rows.filter(id__in=locked).delete()
    return count


def purge(
    before: dt.datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int, int], None] | None = None,
) -> PurgeResult:
    """Delete the rows that connected before ``before``, oldest first, a batch of about
    ``batch_size`` rows per DELETE (the ``batch_size`` oldest, and any that connected at the
    same time as the newest of them), each batch its own short transaction: writers and
    readers never wait on a long-held lock, and an interrupted purge leaves the log
    contiguous (newest rows kept).

    A batch that PostgreSQL aborts as a deadlock or serialization failure is run again
    (``transient.retried``), as ingest's are; it raises the error after the last attempt.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    using = router.db_for_write(ConnectionLog)
    oldest_first = (
        expired(before).order_by("connect_time", "id").values_list("connect_time", flat=True)
    )
    deleted = batches = 0
    while True:
        times = list(oldest_first[:batch_size])
        if not times:
            # The change feed's entries recorded before the cutoff go with the rows.
            feed.trim(before=before, batch_size=batch_size)
            return PurgeResult(deleted, batches)
        count = transient.retried(functools.partial(_delete_batch, using, (times[0], times[-1])))
        deleted += count
        batches += 1
        if on_batch is not None:
            on_batch(batches, deleted)
