"""A stream's health, for the API and the streams page: how far behind the feed it is, when
it last delivered, its last error, and what it delivered in the last hour."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from connlogs.feed.models import FeedEntry
from connlogs.feed.reading import latest_seq
from connlogs.streams.models import Stream, StreamBatch
from connlogs.values import format_time

# Lag is counted up to this many entries: past it the exact number tells nobody more, and
# the count stays a bounded walk of the feed's primary key.
LAG_COUNT_CAP = 100_000


def stream_health(stream: Stream, now: dt.datetime | None = None) -> dict:
    """``{"cursor", "latest_seq", "lag_records", "lag_seconds", "last_success_at",
    "last_error", "last_error_at", "failures", "next_attempt_at", "delivered_last_hour",
    "delivering"}``.

    ``lag_records``: feed entries after the cursor (capped at ``LAG_COUNT_CAP``), whether or
    not the stream's search matches them; ``lag_seconds``: the age of the oldest of them (0
    when caught up). Times are ISO strings or ``None``.
    """
    now = now or timezone.now()
    pending = FeedEntry.objects.filter(seq__gt=stream.cursor).order_by("seq")
    oldest = pending.values_list("recorded_at", flat=True).first()
    delivered = StreamBatch.objects.filter(
        stream_id=stream.pk, delivered_at__gte=now - dt.timedelta(hours=1)
    ).aggregate(records=Sum("records"))["records"]
    return {
        "cursor": stream.cursor,
        "latest_seq": latest_seq(),
        "lag_records": pending[:LAG_COUNT_CAP].count() if oldest else 0,
        "lag_seconds": round(max((now - oldest).total_seconds(), 0), 3) if oldest else 0,
        "last_success_at": format_time(stream.last_success_at),
        "last_error": stream.last_error or None,
        "last_error_at": format_time(stream.last_error_at),
        "failures": stream.failures,
        "next_attempt_at": format_time(stream.next_attempt_at),
        "delivered_last_hour": delivered or 0,
        "delivering": bool(stream.lease_owner)
        and stream.lease_expires_at is not None
        and stream.lease_expires_at > now,
    }
