"""One rule's round: take its lease, notify its pending firings, evaluate the feed's entries
after its cursor in reads of ``READ_SIZE``, record each read's firings and move the cursor in
one transaction, notify, and give the lease back.

The streams' design and lease (``connlogs.streams.leases``): one worker at a time holds a rule (a
lease with an expiry, renewed by each move of the cursor, which is conditional on still
holding it); a dead worker's rule is taken over when its lease expires. Firings are recorded
in the same transaction as the cursor move, so no entry is evaluated into a firing twice, not
after a crash or a retry either; a firing is notified after that commit and stays ``pending``
until its receiver took it (at least once: a crash after the send and before the mark sends it
again). Failed notifications back off like streams (``leases.backoff_seconds``) and are
given up after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import requests
from django.db import transaction
from django.utils import timezone

from connlogs.alerts.evaluation import Outcome, evaluate, rule_search
from connlogs.alerts.models import AlertFiring, AlertFiringRow, AlertRule, FiringStatus
from connlogs.alerts.notify import NotificationFailed, notify
from connlogs.feed.reading import FeedError, FeedTrimmed, changes_for
from connlogs.savedviews.resolve import ViewNotFound
from connlogs.streams import leases
from connlogs.streams.leases import backoff_seconds, lease

logger = logging.getLogger("connlogs.alerts")

READ_SIZE = 500
ROUND_SECONDS = 5.0
CAUGHT_UP_SECONDS = 0.5
MAX_ATTEMPTS = 12


@dataclass
class RoundResult:
    """``claimed`` (False: another worker holds the rule, or it is paused or gone), firings
    recorded, notifications sent, the last ``error`` and ``caught_up``."""

    claimed: bool
    fired: int = 0
    notified: int = 0
    error: str = ""
    caught_up: bool = False


def record(rule: AlertRule, worker_id: str, cursor: int, outcome: Outcome) -> bool:
    """In one transaction: move ``rule``'s cursor to ``cursor`` if this worker still holds
    its lease, and record ``outcome``'s firings with their rows. False: the rule is no longer
    ours (nothing recorded)."""
    now = timezone.now()
    fired = bool(outcome.firings)
    with transaction.atomic():
        moved = AlertRule.objects.filter(
            pk=rule.pk, lease_owner=worker_id, cursor=rule.cursor, paused=False
        ).update(
            cursor=cursor,
            cooldown_until=outcome.cooldown_until,
            lease_expires_at=now + lease(),
            failures=0,
            **({"last_fired_at": now} if fired else {}),
        )
        if not moved:
            return False
        for planned in outcome.firings:
            start, end = planned.window
            firing = AlertFiring.objects.create(
                rule_id=rule.pk,
                fired_at=now,
                match_count=len(planned.rows),
                window_start=start,
                window_end=end,
                next_attempt_at=now,
            )
            AlertFiringRow.objects.bulk_create(
                [
                    AlertFiringRow(firing=firing, rule_id=rule.pk, log_id=row.id)
                    for row in planned.rows
                ],
                batch_size=500,
            )
    rule.cursor, rule.cooldown_until = cursor, outcome.cooldown_until
    return True


def _renew(rule: AlertRule, worker_id: str) -> bool:
    renewed = AlertRule.objects.filter(pk=rule.pk, lease_owner=worker_id).update(
        lease_expires_at=timezone.now() + lease()
    )
    return renewed == 1


def notify_pending(rule: AlertRule, worker_id: str, session: requests.Session) -> tuple[int, str]:
    """Send ``rule``'s pending firings that are due, oldest first, renewing the lease after
    each (stopping if it was lost: another worker has the rule); (sent, last error)."""
    now = timezone.now()
    due = AlertFiring.objects.filter(
        rule_id=rule.pk, status=FiringStatus.PENDING, next_attempt_at__lte=now
    ).order_by("fired_at", "id")
    sent, error = 0, ""
    for firing in due:
        attempts = firing.attempts + 1
        try:
            notify(rule, firing, session)
        except NotificationFailed as failure:
            error = str(failure)
            given_up = attempts >= MAX_ATTEMPTS
            AlertFiring.objects.filter(pk=firing.pk).update(
                attempts=attempts,
                last_error=error[:2000],
                status=FiringStatus.FAILED if given_up else FiringStatus.PENDING,
                next_attempt_at=timezone.now() + dt.timedelta(seconds=backoff_seconds(attempts)),
            )
            logger.warning(
                "alert %s: notification failed (attempt %d): %s", rule.pk, attempts, error
            )
            if not _renew(rule, worker_id):
                break
            continue
        AlertFiring.objects.filter(pk=firing.pk).update(
            attempts=attempts, status=FiringStatus.DELIVERED, delivered_at=timezone.now()
        )
        sent += 1
        if not _renew(rule, worker_id):
            break
    return sent, error


def _fail(rule: AlertRule, worker_id: str, error: str) -> None:
    failures = rule.failures + 1
    leases.fail(AlertRule, rule.pk, worker_id, failures, error)
    logger.warning("alert %s: evaluation failed (attempt %d): %s", rule.pk, failures, error)


def _skip_trimmed(rule: AlertRule, worker_id: str, trimmed: FeedTrimmed) -> str | None:
    error = (
        f"retention removed feed entries {rule.cursor + 1}..{trimmed.oldest_seq - 1} "
        "before they were evaluated"
    )
    if not record(rule, worker_id, trimmed.oldest_seq - 1, Outcome([], rule.cooldown_until)):
        return None
    AlertRule.objects.filter(pk=rule.pk).update(last_error=error, last_error_at=timezone.now())
    return error


def _evaluate(rule: AlertRule, worker_id: str, result: RoundResult, budget: float) -> bool:
    """Evaluate reads until caught up, out of time or no longer ours; False on a failure."""
    deadline = time.monotonic() + budget
    while True:
        try:
            q = rule_search(rule)
            page = changes_for(rule.created_by, q=q, after=rule.cursor, limit=READ_SIZE)
        except FeedTrimmed as trimmed:
            skipped = _skip_trimmed(rule, worker_id, trimmed)
            if skipped is None:
                return True
            result.error = skipped
            continue
        except (FeedError, ViewNotFound) as error:
            result.error = str(error) or type(error).__name__
            _fail(rule, worker_id, result.error)
            return False
        if page.next <= rule.cursor:
            result.caught_up = True
            return True
        outcome = evaluate(rule, page.changes, q)
        if not record(rule, worker_id, page.next, outcome):
            return True
        result.fired += len(outcome.firings)
        if time.monotonic() >= deadline:
            return True


def evaluate_round(rule_id, worker_id: str, budget: float | None = None) -> RoundResult:
    """Evaluate ``rule_id`` as ``worker_id`` for up to ``budget`` seconds (``ROUND_SECONDS``)
    and notify its firings. Raises nothing a rule could cause: failures land in the rule
    (evaluation) or its firings (notification)."""
    if not leases.claim(AlertRule, rule_id, worker_id):
        return RoundResult(claimed=False)
    rule = AlertRule.objects.select_related("created_by").get(pk=rule_id)
    result = RoundResult(claimed=True)
    with requests.Session() as session:
        # Before evaluating too: a firing left pending by a crash or a failure is sent even
        # while its rule cannot be evaluated (a view it lost, say).
        result.notified, error = notify_pending(rule, worker_id, session)
        budget = ROUND_SECONDS if budget is None else budget
        if not _evaluate(rule, worker_id, result, budget):
            return result  # failed: the lease is given back with a backoff
        sent, error = notify_pending(rule, worker_id, session)
    result.notified += sent
    result.error = result.error or error
    leases.release(AlertRule, rule.pk, worker_id, CAUGHT_UP_SECONDS if result.caught_up else 0)
    return result
