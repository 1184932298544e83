"""The lease every background job of the workers runs under: a stream's delivery, an alert
rule's evaluation. One worker at a time holds a job (``lease_owner`` until
``lease_expires_at``); a dead worker's job is taken over when the lease expires; a failure
gives the lease back with a backoff (``next_attempt_at``).

The functions take the job's model: any model with the fields ``paused``, ``lease_owner``,
``lease_expires_at``, ``next_attempt_at``, ``failures``, ``last_error`` and
``last_error_at`` (``Stream``, ``AlertRule``).
"""

from __future__ import annotations

import datetime as dt
import random

from django.conf import settings
from django.db import models, transaction
from django.db.models import Model, Q
from django.utils import timezone

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0


def lease() -> dt.timedelta:
    """How long a claim lasts without renewal (``CONNLOGS_STREAM_LEASE_SECONDS``): the
    longest a dead worker's job waits before another worker takes it over."""
    return dt.timedelta(seconds=settings.CONNLOGS_STREAM_LEASE_SECONDS)


def backoff_seconds(failures: int) -> float:
    """Seconds before retry number ``failures`` (1, 2, …): half of min(max, first·2^(n-1))
    plus a random part of the other half (AWS Architecture Blog, "Exponential Backoff And
    Jitter", the "equal jitter" variant)."""
    cap = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** min(failures - 1, 30))
    return cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not a secret


def claim(model: type[Model], pk, worker_id: str) -> bool:
    """Take (or renew) the lease of an unpaused job whose lease is free or expired."""
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_expires_at__lt=now) | Q(lease_owner=worker_id)
    taken = model.objects.filter(free, pk=pk, paused=False).update(
        lease_owner=worker_id, lease_expires_at=now + lease()
    )
    return taken == 1


def fail(model: type[Model], pk, worker_id: str, failures: int, error: str) -> None:
    """Record failure number ``failures`` with its text and give the lease back until the
    backoff is over."""
    now = timezone.now()
    model.objects.filter(pk=pk, lease_owner=worker_id).update(
        failures=failures,
        last_error=error[:2000],
        last_error_at=now,
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=now + dt.timedelta(seconds=backoff_seconds(failures)),
    )


def release(model: type[Model], pk, worker_id: str, delay_seconds: float) -> None:
    """Give the lease back; the job is due again in ``delay_seconds``."""
    model.objects.filter(pk=pk, lease_owner=worker_id).update(
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=timezone.now() + dt.timedelta(seconds=delay_seconds),
    )


def due(model: type[Model], now: dt.datetime):
    """Unpaused jobs whose next attempt is due and whose lease is free or expired."""
    return model.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(lease_owner="") | Q(lease_expires_at__lt=now),
        paused=False,
    )


def queue_round(model: type[Model], pk, due_at: dt.datetime | None, enqueue) -> bool:
    """Queue a round of ``model`` row ``pk`` (``enqueue(str(pk))``, a task's ``enqueue``) if
    its ``next_attempt_at`` is still ``due_at`` (else another worker queued it first); it is
    then not due again for a lease's length. True when this call queued it."""
    with transaction.atomic():
        won = model.objects.filter(pk=pk, next_attempt_at=due_at).update(
            next_attempt_at=timezone.now() + lease()
        )
        if won:
            enqueue(str(pk))
    return bool(won)


class LeasedWork(models.Model):
    """The state the functions above keep for a stream or an alert rule, written by the
    workers only: ``cursor`` (the last feed seq done), when it is due again, the lease
    (``lease_owner`` until ``lease_expires_at``), and the failures since the last success."""

    cursor = models.BigIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
