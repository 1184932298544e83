"""The background task: one delivery round of one stream, run by a django-tasks worker.

Written against ``django_tasks`` (the backport of Django 6's ``django.tasks``): on Django 6
the import becomes ``from django.tasks import task`` and nothing else changes.
"""

from __future__ import annotations

from django_tasks import TaskContext, task

from connlogs.streams.delivery import deliver_round


@task(takes_context=True)
def deliver_stream(context: TaskContext, stream_id: str) -> dict:
    """Run ``deliver_round`` for ``stream_id`` as the worker running this task; answers
    ``{"claimed", "records", "error", "caught_up"}`` (kept as the task's result)."""
    worker_id = (context.task_result.worker_ids or ["unknown"])[-1]
    result = deliver_round(stream_id, worker_id)
    return {
        "claimed": result.claimed,
        "records": result.records,
        "error": result.error,
        "caught_up": result.caught_up,
    }
