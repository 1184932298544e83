"""The streams' tables: a stream (destination, search, cursor on the feed, lease, backoff),
its delivered batches (for "delivered in the last hour") and the workers' heartbeats.

A stream's ``cursor`` is the highest feed ``seq`` its receiver has acknowledged: delivery
reads the changes after it, sends them, and only then moves it (at least once). The lease
(``lease_owner`` until ``lease_expires_at``) lets one worker at a time deliver a stream; a
worker that dies keeps it only until it expires, and the next worker takes over from the
cursor.
"""

from __future__ import annotations

import uuid

from django.db import models

from connlogs.streams import secrets
from connlogs.streams.leases import LeasedWork

MAX_NAME = 100


class StreamKind(models.TextChoices):
    HTTP = "http", "HTTP JSON (NDJSON)"
    SPLUNK_HEC = "splunk_hec", "Splunk HTTP Event Collector"
    SYSLOG_TCP = "syslog_tcp", "Syslog (RFC 5424, TCP)"
    SYSLOG_TLS = "syslog_tls", "Syslog (RFC 5424, TCP+TLS)"
    SYSLOG_UDP = "syslog_udp", "Syslog (RFC 5424, UDP)"


class Stream(secrets.EncryptedSecret, LeasedWork):
    """One destination: what it receives (``q`` or ``view``, read in ``created_by``'s scope,
    narrowed to ``organization`` when set), where it goes (``kind``, ``url`` or
    ``host``/``port``), and its delivery state. Its secret (an HEC token or an HMAC key) is
    write-only (the API and the pages never show it) and kept encrypted
    (``connlogs.streams.secrets``): ``set_secret`` stores one, ``secret_value`` reads it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=MAX_NAME)
    kind = models.CharField(max_length=16, choices=StreamKind.choices)
    url = models.CharField(max_length=2000, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    tls_ca = models.TextField(blank=True, default="")
    q = models.TextField(blank=True, default="")
    view = models.CharField(max_length=64, blank=True, default="")
    organization = models.ForeignKey(
        "connlogs.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="streams",
    )
    created_by = models.ForeignKey(
        "connlogs.User", on_delete=models.CASCADE, related_name="streams"
    )
    batch_size = models.PositiveIntegerField(default=500)
    # Data protection mode: protected rows go out with pseudonyms (``Identities.for_stream``)
    # unless a site owner who may see identities turned this off.
    pseudonymised = models.BooleanField(default=True)
    paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Delivery state (with ``LeasedWork``'s), written by the workers only.
    cursor_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["paused", "next_attempt_at"], name="stream_due_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class StreamBatch(models.Model):
    """One batch a receiver acknowledged: ``records`` sent, through feed ``last_seq``."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="batches")
    delivered_at = models.DateTimeField(db_index=True)
    records = models.PositiveIntegerField()
    last_seq = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.records} records through seq {self.last_seq}"


class WorkerHeartbeat(models.Model):
    """A worker process's last sign of life (``/healthz`` and the streams page read it)."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname} (pid {self.pid})"
