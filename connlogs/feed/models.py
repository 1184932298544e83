"""The change feed's tables: one entry per row that ingest created or changed, and the mark
retention leaves when it trims the oldest entries.

An entry holds no copy of the row: a reader joins it to the row by id and shows the row as it
is when read (``connlogs.feed.reading``). The link is a foreign key without a database
constraint: retention deletes rows and trims entries on its own schedule, and an entry whose
row is gone is simply not shown.
"""

from __future__ import annotations

from django.db import models


class FeedAction(models.IntegerChoices):
    """What a change did to its row (the API's ``"action"``)."""

    CREATED = 1, "created"
    UPDATED = 2, "updated"


class FeedEntry(models.Model):
    """One change: ``seq`` (strictly increasing, in commit order), the row, the action, and
    when it was recorded (retention trims entries older than the retention window)."""

    seq = models.BigAutoField(primary_key=True)
    log = models.ForeignKey(
        "connlogs.ConnectionLog",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="feed_entries",
    )
    action = models.PositiveSmallIntegerField(choices=FeedAction.choices)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "feed entries"

    def __str__(self) -> str:
        return f"{self.seq} {self.get_action_display()} {self.log_id}"


class FeedState(models.Model):
    """One row (``pk=1``): ``trimmed_through``, the highest seq retention has removed, so a
    follower still waiting for an entry at or below it is told it is gone (HTTP 410)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    trimmed_through = models.BigIntegerField(default=0)
    trimmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"feed trimmed through {self.trimmed_through}"
