"""What every worker does beside running tasks: beat its heartbeat, queue a delivery round
for each stream that is due, and prune what it no longer needs.

Several workers on several machines may dispatch at once: a stream is queued by whoever moves
its ``next_attempt_at`` first (a conditional UPDATE), and a round only runs under the stream's
lease (``delivery.claim``), so a stray duplicate task finds the stream taken and returns.
A stream whose worker died is due again when its lease expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from connlogs.streams.models import Stream, StreamBatch, WorkerHeartbeat
from connlogs.streams.tasks import queue_round

logger = logging.getLogger("connlogs.streams")

# How long finished tasks, delivered batches and silent workers' heartbeats are kept.
KEEP_TASK_RESULTS = dt.timedelta(hours=1)
KEEP_BATCHES = dt.timedelta(days=1)
KEEP_HEARTBEATS = dt.timedelta(days=7)


def beat(worker_id: str, started_at: dt.datetime) -> None:
    """Record that worker ``worker_id`` (this process) is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "last_seen": timezone.now(),
        },
    )


def due_streams(now: dt.datetime):
    """Unpaused streams whose next attempt is due and whose lease is free or expired."""
    return Stream.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        Q(lease_owner="") | Q(lease_expires_at__lt=now),
        paused=False,
    )


def dispatch_due() -> int:
    """Queue one ``deliver_stream`` task per due stream that this call wins (``queue_round``);
    the number queued."""
    due = due_streams(timezone.now()).values_list("pk", "next_attempt_at")
    return sum(queue_round(stream_id, due_at) for stream_id, due_at in due)


def prune() -> None:
    """Delete finished task results, old delivered batches and long-silent heartbeats; and
    tasks left running by a worker that died (a round lasts seconds, so one started this long
    ago is no longer running: its stream was taken over when its lease expired)."""
    now = timezone.now()
    DBTaskResult.objects.finished().filter(finished_at__lt=now - KEEP_TASK_RESULTS).delete()
    DBTaskResult.objects.running().filter(started_at__lt=now - KEEP_TASK_RESULTS).delete()
    StreamBatch.objects.filter(delivered_at__lt=now - KEEP_BATCHES).delete()
    WorkerHeartbeat.objects.filter(last_seen__lt=now - KEEP_HEARTBEATS).delete()


def last_heartbeat() -> dict:
    """``{"last_heartbeat": ISO time or None, "alive": workers seen in the last minute}``."""
    now = timezone.now()
    latest = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True)
    seen = latest.first()
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=now - dt.timedelta(minutes=1)).count()
    return {
        "last_heartbeat": seen.isoformat().replace("+00:00", "Z") if seen else None,
        "seconds_since": round((now - seen).total_seconds(), 1) if seen else None,
        "alive": alive,
    }
