"""The access log's entry: one read of connection logs (registered by ``connlogs.models``).

Imports no other connlogs module: ``connlogs.models`` imports this one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised by any attempt of the application to change or delete an access-log entry."""


class AccessLogQuerySet(models.QuerySet):
    """Entries are appended, never changed or deleted by the application: chaining
    (``connlogs.accesslog.chain``) and retention (``manage.py purge_access_log``) are the only
    writers after the insert, and they do not go through these."""

    def update(self, **kwargs):
        raise AppendOnlyError("access-log entries are never changed")

    def delete(self):
        raise AppendOnlyError("access-log entries are never deleted (retention purges them)")


class AccessLogEntry(models.Model):
    """Who read connection logs, when, from where, through which door, what, and how much.

    ``organizations`` holds the ids (space-separated) of the organizations whose rows the read
    returned (an organization admin sees the entries naming theirs). ``seq``, ``prev_hash``
    and ``hash`` are the chain, filled in by the sealer in the order it seals; they are
    empty until then.
    """

    class Door(models.TextChoices):
        API = "api", "API list"
        API_EXPORT = "api-export", "API export"
        PAGE = "page", "List page (with its chart)"
        DETAIL = "detail", "Detail page"
        CHART = "chart", "Chart"
        PAGE_EXPORT = "page-export", "Download"
        FEED = "feed", "Change feed"
        STREAM = "stream", "Outbound stream"
        ALERT = "alert", "Alert webhook"
        ADMIN = "admin", "Admin list"
        ADMIN_DETAIL = "admin-detail", "Admin detail"
        RETENTION = "retention", "Retention purge of this log"

    class ExportStatus(models.TextChoices):
        COMPLETE = "complete"
        ABANDONED = "abandoned", "abandoned (the client went away)"
        FAILED = "failed"

    time = models.DateTimeField(default=timezone.now)
    # No foreign key: the record outlives accounts and tokens, and names them as they were.
    user_id = models.UUIDField(null=True, blank=True)
    username = models.CharField(max_length=64, blank=True, default="")
    token_name = models.CharField(max_length=64, blank=True, default="")
    address = models.CharField(max_length=64, blank=True, default="")
    door = models.CharField(max_length=16, choices=Door.choices)
    q = models.TextField(blank=True, default="")
    row_id = models.UUIDField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)
    revealed = models.BooleanField(default=False)
    organizations = models.TextField(blank=True, default="")
    export_name = models.CharField(max_length=128, blank=True, default="")
    export_sha256 = models.CharField(max_length=64, blank=True, default="")
    export_status = models.CharField(
        max_length=16, choices=ExportStatus.choices, blank=True, default=""
    )
    # A retention entry: the entries up to this chain position were purged.
    purged_through = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        app_label = "connlogs"
        verbose_name = "access-log entry"
        verbose_name_plural = "access log"
        indexes = [
            models.Index(fields=["-time", "-id"], name="al_time_idx"),
            models.Index(fields=["user_id", "-time", "-id"], name="al_user_time_idx"),
            # The sealer's work list: entries not chained yet (a handful at any time).
            models.Index(fields=["id"], name="al_unsealed_idx", condition=Q(seq__isnull=True)),
            # verify_export and the checksum downloads find an export by its hash or name.
            models.Index(
                fields=["export_sha256"], name="al_export_sha_idx", condition=~Q(export_sha256="")
            ),
            models.Index(
                fields=["export_name"], name="al_export_name_idx", condition=~Q(export_name="")
            ),
        ]

    def __str__(self) -> str:
        who = self.username or "nobody"
        return f"{self.get_door_display()} by {who} at {self.time:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("access-log entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("access-log entries are never deleted (retention purges them)")

    @property
    def organization_ids(self) -> list[str]:
        return self.organizations.split()
