"""Real worker processes (``manage.py stream_worker``) evaluating a threshold rule and
notifying a loopback webhook: each qualifying window fires exactly once, across a worker
killed mid-notification and taken over by another.

PostgreSQL only: the worker process must share the test database.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from connlogs.alerts.models import AlertFiring, AlertRule, Channel, FiringStatus, RuleKind
from connlogs.models import ConnectionLog
from tests.alerts.conftest import at
from tests.conftest import requires_postgres
from tests.feed.conftest import record, web
from tests.streams.receivers import HttpReceiver
from tests.streams.test_worker_process import org_world, wait_for, workers  # noqa: F401

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

WINDOW_ROWS = 3


def qualifying_window(ws, minute: int) -> set[str]:
    """3 denied tunnels within 2 minutes from ``minute``, and an allowed one (not matching)."""
    events = [web(ws, kind="tunnel", status_code=403, time=at(minute + m)) for m in range(3)]
    record(*events, web(ws, kind="tunnel", status_code=101, time=at(minute + 1)))
    times = [event["time"] for event in events]
    rows = ConnectionLog.objects.filter(connect_time__in=times, code=403)
    return {str(pk) for pk in rows.values_list("id", flat=True)}


def test_each_qualifying_window_fires_exactly_once_across_a_worker_kill(
    org_world,  # noqa: F811
    workers,  # noqa: F811
):
    ws, owner = org_world
    receiver = HttpReceiver()
    receiver.delay = 0.7  # each notification takes a while: the kill lands mid-send
    try:
        AlertRule.objects.create(
            name="denied tunnels",
            kind=RuleKind.THRESHOLD,
            q="type:tunnel status_code:403",
            threshold=WINDOW_ROWS,
            window_minutes=5,
            channel=Channel.WEBHOOK,
            url=receiver.url,
            created_by=owner,
        )
        # Windows 10 minutes apart: each is its own qualifying window.
        windows = [qualifying_window(ws, 10 * n) for n in range(4)]
        first = workers("first-worker")
        wait_for(lambda: len(receiver.records) >= 1, what="the first notification")
        first.send_signal(signal.SIGKILL)
        first.wait()
        windows += [qualifying_window(ws, 10 * n) for n in range(4, 8)]
        workers("second-worker")
        # One query: the firings delivered (two could see the last firings recorded between
        # them, delivered or not).
        delivered = AlertFiring.objects.filter(status=FiringStatus.DELIVERED)
        wait_for(
            lambda: delivered.count() >= len(windows),
            timeout=120,
            what="every window's notification",
        )
    finally:
        receiver.stop()

    firings = list(AlertFiring.objects.all())
    fired_rows = [{str(r.log_id) for r in firing.rows.all()} for firing in firings]
    assert sorted(map(sorted, fired_rows)) == sorted(map(sorted, windows))  # once each, exact
    sent = Counter(record["firing"]["id"] for record in receiver.records)
    assert set(sent) == {str(firing.pk) for firing in firings}
    # At least once: only the notification in flight when the worker died may come twice.
    assert sum(sent.values()) - len(sent) <= 1
