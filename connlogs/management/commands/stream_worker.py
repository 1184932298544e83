"""``manage.py stream_worker``: django-tasks-db's ``db_worker`` (same options) plus a
heartbeat thread that records this worker's last sign of life, queues due stream deliveries
and alert rules, chains new access-log entries and prunes old results. Run one or more per
machine (docs/deployment.md)."""

from __future__ import annotations

import datetime
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands import db_worker

from connlogs.accesslog import chain
from connlogs.alerts.tasks import dispatch_due as dispatch_due_rules
from connlogs.streams import scheduling

logger = logging.getLogger("connlogs.streams")

PRUNE_EVERY_BEATS = 60


def beat_once(worker_id: str, started_at: datetime.datetime, beats: int) -> None:
    """One beat: the sign of life, due stream rounds and alert rules queued, the access
    log's pending entries chained (never waiting for another sealer: without this, the
    last reads of a quiet spell stayed unchained until someone read again), old results
    pruned every ``PRUNE_EVERY_BEATS``."""
    scheduling.beat(worker_id, started_at)
    scheduling.dispatch_due()
    dispatch_due_rules()
    chain.seal(wait=False)
    if beats % PRUNE_EVERY_BEATS == 0:
        scheduling.prune()


def _heartbeat_loop(worker_id: str, stop: threading.Event) -> None:
    started_at = timezone.now()
    beats = 0
    while not stop.is_set():
        try:
            close_old_connections()
            beat_once(worker_id, started_at, beats)
        except DatabaseError as error:
            # The database is restarting or unreachable: try again on the next beat.
            logger.warning("worker %s: heartbeat failed: %s", worker_id, error)
            connection.close()
        beats += 1
        stop.wait(settings.CONNLOGS_WORKER_HEARTBEAT_SECONDS)


class Command(db_worker.Command):
    help = (
        "Run a background worker: delivers streams (django-tasks database worker) and "
        "beats a heartbeat that /healthz reports."
    )

    def handle(self, *args, **options):
        # The autoreloader would start a second heartbeat in its watching parent.
        options["reload"] = False
        worker = options["worker_id"]
        stop = threading.Event()
        beater = threading.Thread(
            target=_heartbeat_loop,
            args=(worker, stop),
            name="connlogs-heartbeat",
            daemon=True,
        )
        beater.start()
        try:
            while True:
                try:
                    super().handle(*args, **options)
                    return
                except DatabaseError as error:
                    # The database restarted or dropped us (the engine's loop gives up on
                    # that): reconnect and go on. A stream held when it happened is ours
                    # again on the next round (the same worker id renews its lease).
                    logger.warning("worker %s: database lost (%s); reconnecting", worker, error)
                    connection.close()
                    time.sleep(settings.CONNLOGS_WORKER_HEARTBEAT_SECONDS)
        finally:
            stop.set()
