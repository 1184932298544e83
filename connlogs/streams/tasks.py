"""The background task: one delivery round of one stream, run by a django-tasks worker.

Written against ``django_tasks`` (the backport of Django 6's ``django.tasks``): on Django 6
the import becomes ``from django.tasks import task`` and nothing else changes.
"""

from __future__ import annotations

import datetime as dt

from django_tasks import TaskContext, task

from connlogs.streams import delivery, leases
from connlogs.streams.models import Stream


@task(takes_context=True)
def deliver_stream(context: TaskContext, stream_id: str) -> dict:
    """Run ``deliver_round`` for ``stream_id`` as the worker running this task; answers
    ``{"claimed", "records", "error", "caught_up"}`` (kept as the task's result)."""
    worker_id = (context.task_result.worker_ids or ["unknown"])[-1]
    result = delivery.deliver_round(stream_id, worker_id)
    if result.claimed and not result.caught_up and not result.error:
        # The round's budget ran out with a backlog left: the next round now, not at the
        # next heartbeat (other streams' rounds queue beside it, so none is starved).
        due_at = Stream.objects.filter(pk=stream_id).values_list("next_attempt_at", flat=True)
        queue_round(stream_id, due_at.first())
    return {
        "claimed": result.claimed,
        "records": result.records,
        "error": result.error,
        "caught_up": result.caught_up,
    }


def queue_round(stream_id, due_at: dt.datetime | None) -> bool:
    """Queue a round of ``stream_id`` unless another worker did (``leases.queue_round``)."""
    return leases.queue_round(Stream, stream_id, due_at, deliver_stream.enqueue)
