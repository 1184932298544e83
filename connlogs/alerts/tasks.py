"""The background task: one evaluation round of one alert rule, run by the same django-tasks
workers as stream delivery (``manage.py stream_worker``), queued by their heartbeat.

Written against ``django_tasks`` (the backport of Django 6's ``django.tasks``): on Django 6
the import becomes ``from django.tasks import task``.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import TaskContext, task

from connlogs.alerts import rounds
from connlogs.alerts.models import AlertRule
from connlogs.streams import leases


@task(takes_context=True)
def evaluate_rule(context: TaskContext, rule_id: str) -> dict:
    """Run ``evaluate_round`` for ``rule_id`` as this task's worker; answers ``{"claimed",
    "fired", "notified", "error", "caught_up"}`` (kept as the task's result)."""
    worker_id = (context.task_result.worker_ids or ["unknown"])[-1]
    result = rounds.evaluate_round(rule_id, worker_id)
    if result.claimed and not result.caught_up and not result.error:
        # Out of time with a backlog left: the next round now, not at the next heartbeat.
        due_at = AlertRule.objects.filter(pk=rule_id).values_list("next_attempt_at", flat=True)
        queue_round(rule_id, due_at.first())
    return {
        "claimed": result.claimed,
        "fired": result.fired,
        "notified": result.notified,
        "error": result.error,
        "caught_up": result.caught_up,
    }


def queue_round(rule_id, due_at: dt.datetime | None) -> bool:
    """Queue a round of ``rule_id`` unless another worker did (``leases.queue_round``)."""
    return leases.queue_round(AlertRule, rule_id, due_at, evaluate_rule.enqueue)


def dispatch_due() -> int:
    """Queue one round per unpaused rule that is due and whose lease is free or expired (the
    workers' heartbeat calls it beside the streams'); the number queued."""
    due = leases.due(AlertRule, timezone.now()).values_list("pk", "next_attempt_at")
    return sum(queue_round(rule_id, due_at) for rule_id, due_at in due)
