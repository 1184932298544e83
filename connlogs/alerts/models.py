"""Alert rules' tables: a rule (what it watches, when it fires, where it notifies, and its
evaluation state on the change feed), its firings, and the rows each firing matched.

A rule's ``cursor`` is the highest feed ``seq`` it has evaluated. A round records its firings
and moves the cursor in one transaction, conditional on holding the rule's lease, so a crash
or a retry never evaluates the same entries into a second firing; notifications go out after
the commit, at least once (a firing stays ``pending`` until its receiver took it).
``AlertFiringRow`` is unique per (rule, row): a row is part of at most one firing of a rule.
"""

from __future__ import annotations

import uuid

from django.db import models

from connlogs.streams.leases import LeasedWork
from connlogs.streams.secrets import EncryptedSecret

MAX_NAME = 100


class RuleKind(models.TextChoices):
    EACH_MATCH = "each_match", "Each new match"
    THRESHOLD = "threshold", "At least N matches within W minutes"
    NEW_ADDRESS = "new_address", "An address new for the workspace owner"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "HTTP webhook (JSON, HMAC-SHA256 signed)"
    SLACK = "slack", "Slack-compatible incoming webhook"
    EMAIL = "email", "Email"


class FiringStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class AlertRule(EncryptedSecret, LeasedWork):
    """One rule: its search (``q`` or ``view``, read in ``created_by``'s scope, narrowed to
    ``organization`` when set), its kind with ``threshold``/``window_minutes`` (threshold) or
    ``new_address_days`` (new address), ``cooldown_minutes``, and its channel (``url``,
    the webhook's HMAC key as an encrypted write-only secret, ``email_to``: comma-separated)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=MAX_NAME)
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    q = models.TextField(blank=True, default="")
    view = models.CharField(max_length=64, blank=True, default="")
    threshold = models.PositiveIntegerField(default=1)
    window_minutes = models.PositiveIntegerField(default=5)
    new_address_days = models.PositiveIntegerField(default=30)
    cooldown_minutes = models.PositiveIntegerField(default=0)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    url = models.CharField(max_length=2000, blank=True, default="")
    email_to = models.TextField(blank=True, default="")
    organization = models.ForeignKey(
        "connlogs.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
    )
    created_by = models.ForeignKey(
        "connlogs.User", on_delete=models.CASCADE, related_name="alert_rules"
    )
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Evaluation state (with ``LeasedWork``'s), written by the workers only.
    cooldown_until = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["paused", "next_attempt_at"], name="alert_rule_due_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class AlertFiring(models.Model):
    """One firing: when, the rows it matched (``AlertFiringRow``; ``match_count`` of them),
    the window (``window_start``..``window_end``, the rows' connect times) and its
    notification: ``status``, ``attempts``, ``delivered_at``, ``last_error``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="firings")
    fired_at = models.DateTimeField(db_index=True)
    match_count = models.PositiveIntegerField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=FiringStatus.choices, default=FiringStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["rule", "status"], name="alert_firing_rule_status_idx")]

    def __str__(self) -> str:
        return f"{self.rule_id} fired at {self.fired_at} ({self.match_count} rows)"


class AlertFiringRow(models.Model):
    """A row one firing matched. Unique per (rule, row): the database itself refuses a second
    firing of a rule for the same row. ``log_id`` has no constraint: retention deletes rows
    on its own schedule (a firing then links to fewer rows)."""

    firing = models.ForeignKey(AlertFiring, on_delete=models.CASCADE, related_name="rows")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    log_id = models.UUIDField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "log_id"], name="alert_row_once_per_rule")
        ]
        indexes = [models.Index(fields=["firing", "log_id"], name="alert_firing_row_idx")]

    def __str__(self) -> str:
        return f"{self.log_id} in firing {self.firing_id}"
