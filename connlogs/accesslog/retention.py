"""How long the access log is kept: ``CONNLOGS_ACCESS_LOG_RETENTION``, and its purge.

The default is the connection log's retention plus 365 days (forever when the log is kept
forever): whoever read a row stays on record at least as long as the row. A setting shorter
than the log's retention is refused.

The purge deletes a prefix of the chain, never a hole in it: first a retention entry is
appended and sealed saying "entries up to position N are purged" (``purged_through``), then
the entries up to N go, in batches. ``chain.verify`` accepts a chain that starts after the
newest such entry's N, and only that; an interrupted purge leaves entries the next one takes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from connlogs import retention
from connlogs.accesslog import chain
from connlogs.models import AccessLogEntry

DEFAULT_MARGIN = dt.timedelta(days=365)
BATCH = 5000


def retention_period() -> dt.timedelta | None:
    """The access log's retention (``None``: forever); a bad or too short setting is a
    configuration error."""
    log_period = retention.retention_period()
    text = settings.CONNLOGS_ACCESS_LOG_RETENTION
    if not (text or "").strip():
        return None if log_period is None else log_period + DEFAULT_MARGIN
    try:
        period = retention.parse_retention(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"CONNLOGS_ACCESS_LOG_RETENTION: {error}") from None
    if (
        log_period is None
        and period is not None
        or (period is not None and log_period is not None and period < log_period)
    ):
        raise ImproperlyConfigured(
            "CONNLOGS_ACCESS_LOG_RETENTION must not be shorter than CONNLOGS_RETENTION: "
            "a read must stay on record while the rows it read are kept"
        )
    return period


@dataclass
class Purge:
    """What a purge found (``dry_run``) or did: entries before ``cutoff`` up to position
    ``through``."""

    cutoff: dt.datetime | None
    through: int = 0
    entries: int = 0


def _boundary(cutoff: dt.datetime) -> Purge:
    """The chain's prefix whose entries are all older than ``cutoff``."""
    first_kept = (
        AccessLogEntry.objects.filter(seq__isnull=False, time__gte=cutoff)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    older = AccessLogEntry.objects.filter(seq__isnull=False, time__lt=cutoff)
    if first_kept is not None:
        older = older.filter(seq__lt=first_kept)
    through = older.order_by("-seq").values_list("seq", flat=True).first() or 0
    entries = AccessLogEntry.objects.filter(seq__lte=through).count() if through else 0
    return Purge(cutoff, through, entries)


def purge(*, dry_run: bool = False, now: dt.datetime | None = None) -> Purge:
    """Delete the entries past retention (seals what is pending first)."""
    period = retention_period()
    if period is None:
        return Purge(None)
    cutoff = retention.cutoff(period, now or timezone.now())
    chain.seal_all()
    found = _boundary(cutoff)
    if dry_run or not found.through:
        return found
    AccessLogEntry.objects.create(
        door=AccessLogEntry.Door.RETENTION,
        q=f"entries recorded before {cutoff.isoformat()}",
        rows=found.entries,
        purged_through=found.through,
    )
    chain.seal_all()
    table = AccessLogEntry.objects.filter(seq__lte=found.through)
    while True:
        with transaction.atomic():
            ids = list(table.values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            # Not the model's delete(): the application never deletes an entry; retention does.
            AccessLogEntry.objects.filter(pk__in=ids)._raw_delete(table.db)
    return found
