"""Writing the change feed: one entry per row a batch created or changed, in its transaction.

Sequence numbers are handed out in **commit order**, so that a follower that has read up to
``seq`` N can never later find a committed entry below N:

* PostgreSQL: each writing transaction takes one transaction-scoped advisory lock just before
  it inserts its entries, as its last step, and keeps it until it commits. The next writer's
  ``seq`` values are drawn only once the previous writer has committed (or rolled back), so
  every committed entry below a visible one is visible too. The lock is held from the insert
  to the commit: writers queue there, for that moment only (docs/scaling.md, "The change
  feed").
* SQLite has one writer at a time: its ``AUTOINCREMENT`` key is in commit order already.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connections
from django.utils import timezone

from connlogs.feed.models import FeedAction, FeedEntry

# pg_advisory_xact_lock's key for "drawing feed sequence numbers": the first 63 bits of
# sha256("connlogs.feed"), unlikely to be another application's advisory lock on the database.
FEED_LOCK = 0x11A62CCAE9D912B5


def record(alias: str, created: Sequence[uuid.UUID], updated: Sequence[uuid.UUID]) -> None:
    """Append the entries of one batch: ``created`` row ids, then ``updated`` row ids.

    Call it inside the batch's transaction on database ``alias``, after its rows are written
    and as its last statement: on PostgreSQL it takes the feed's lock, held until the commit.
    A batch that changed nothing writes nothing and takes no lock.
    """
    if not created and not updated:
        return
    entries = [(log_id, FeedAction.CREATED) for log_id in created]
    entries += [(log_id, FeedAction.UPDATED) for log_id in updated]
    connection = connections[alias]
    if connection.vendor != "postgresql":
        now = timezone.now()
        FeedEntry.objects.using(alias).bulk_create(
            [
                FeedEntry(log_id=log_id, action=action, recorded_at=now)
                for log_id, action in entries
            ],
            batch_size=500,
        )
        return
    quote = connection.ops.quote_name
    meta = FeedEntry._meta
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FEED_LOCK])
        # One statement with two array parameters, whatever the batch size; the entries keep
        # the batch's order (WITH ORDINALITY), so their seq values follow it.
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} "
            f"({quote('log_id')}, {quote('action')}, {quote('recorded_at')}) "
            "SELECT entry.log_id, entry.action, %s "
            "FROM unnest(%s::uuid[], %s::smallint[]) WITH ORDINALITY "
            "AS entry(log_id, action, position) ORDER BY entry.position",
            [
                timezone.now(),
                # Array literals: one text parameter each (psycopg would adapt a list of
                # 1,000 UUIDs element by element in Python).
                "{" + ",".join(str(log_id) for log_id, _ in entries) + "}",
                "{" + ",".join(str(int(action)) for _, action in entries) + "}",
            ],
        )
