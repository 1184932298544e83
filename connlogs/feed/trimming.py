"""Retention of the change feed: entries recorded before the retention cutoff are removed,
oldest first, and the highest removed ``seq`` is kept (``FeedState``) so that a follower that
had not read them is told (HTTP 410) instead of silently skipping them.
"""

from __future__ import annotations

import datetime as dt

from django.db import router, transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from connlogs.feed.models import FeedEntry, FeedState

DEFAULT_BATCH_SIZE = 5000


def trim(before: dt.datetime, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Delete the entries recorded before ``before`` (the same cutoff as the rows'); how many.

    Entries are numbered in the order they were recorded, so the expired ones are a prefix
    of the feed: each batch reads the ``batch_size`` oldest, deletes the expired run at their
    start, and records its last seq in ``FeedState``, in one short transaction; the walk stops
    at the first entry that is kept (a clock that stepped back leaves the rest for the next
    run). Readers and writers are not blocked: new entries are appended at the other end.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    alias = router.db_for_write(FeedEntry)
    entries = FeedEntry.objects.using(alias)
    deleted = 0
    while True:
        with transaction.atomic(using=alias):
            oldest = list(entries.order_by("seq").values_list("seq", "recorded_at")[:batch_size])
            expired = 0
            while expired < len(oldest) and oldest[expired][1] < before:
                expired += 1
            if not expired:
                return deleted
            through = oldest[expired - 1][0]
            count, _ = entries.filter(seq__lte=through).delete()
            FeedState.objects.using(alias).get_or_create(pk=1)
            FeedState.objects.using(alias).filter(pk=1).update(
                trimmed_through=Greatest("trimmed_through", through), trimmed_at=timezone.now()
            )
        deleted += count
        if expired < len(oldest):
            return deleted
