"""Evaluating rules on the change feed: each new match, threshold windows, cooldowns, new
addresses for an owner, and never firing twice for the same rows (a retry, a crash between
recording and notifying, a row's later update)."""

from __future__ import annotations

from unittest import mock

import pytest

from connlogs.alerts import rounds
from connlogs.alerts.models import AlertFiring, AlertRule, FiringStatus, RuleKind
from connlogs.alerts.notify import NotificationFailed
from connlogs.feed.reading import latest_seq
from connlogs.models import ConnectionLog
from tests.alerts.conftest import at, firings, run
from tests.feed.conftest import connect, disconnect, record, web

pytestmark = pytest.mark.django_db


def ids(*events) -> set[str]:
    """The row ids of ``events`` (connects or web events, by their time and type)."""
    times = [event["time"] for event in events]
    rows = ConnectionLog.objects.filter(connect_time__in=times)
    return {str(pk) for pk in rows.values_list("id", flat=True)}


def denied(world, minute: float) -> dict:
    return web(world.acme_ws, kind="tunnel", status_code=403, time=at(minute))


def test_each_new_match_fires_once_and_a_later_update_of_the_row_does_not_fire_again(
    world, make_rule, receiver
):
    rule = make_rule(q="type:ssh")
    first = connect(world.acme_ws, time=at(0))
    record(first, web(world.acme_ws, time=at(1)))

    result = run(rule)

    assert result.fired == 1 and result.notified == 1
    assert firings(rule) == [ids(first)]
    record(disconnect(world.acme_ws, first["connection_id"], time=at(2)))
    run(rule)
    assert firings(rule) == [ids(first)]
    assert len(receiver.records) == 1


def test_a_crash_inside_the_recording_transaction_records_nothing_and_the_retry_fires_once(
    world, make_rule
):
    rule = make_rule(q="type:ssh")
    row = connect(world.acme_ws, time=at(0))
    record(row)
    start = rule.cursor
    with mock.patch.object(
        rounds.AlertFiringRow.objects, "bulk_create", side_effect=RuntimeError("killed")
    ):
        with pytest.raises(RuntimeError):
            run(rule)
    rule.refresh_from_db()
    assert rule.cursor == start and AlertFiring.objects.count() == 0
    AlertRule.objects.filter(pk=rule.pk).update(lease_owner="")  # the lease ran out

    run(rule, worker="w2")

    assert firings(rule) == [ids(row)]


def test_entries_read_again_never_fire_the_same_rows_twice(world, make_rule):
    rule = make_rule(q="type:ssh")
    record(connect(world.acme_ws, time=at(0)))
    start = rule.cursor
    run(rule)
    AlertRule.objects.filter(pk=rule.pk).update(cursor=start)  # read the same entries again

    assert run(rule).fired == 0
    assert AlertFiring.objects.filter(rule=rule).count() == 1


def test_a_crash_between_recording_and_notifying_notifies_on_the_next_round(
    world, make_rule, receiver
):
    rule = make_rule(q="type:ssh")
    record(connect(world.acme_ws, time=at(0)))
    with mock.patch.object(rounds, "notify", side_effect=NotificationFailed("receiver down")):
        result = run(rule)
    assert result.fired == 1 and receiver.records == []
    firing = AlertFiring.objects.get(rule=rule)
    assert firing.status == FiringStatus.PENDING and firing.last_error == "receiver down"
    AlertFiring.objects.filter(pk=firing.pk).update(next_attempt_at=firing.fired_at)

    result = run(rule)

    assert result.fired == 0 and result.notified == 1
    assert [r["firing"]["id"] for r in receiver.records] == [str(firing.pk)]
    firing.refresh_from_db()
    assert firing.status == FiringStatus.DELIVERED and firing.attempts == 2


def test_each_match_with_a_cooldown_skips_rows_connected_within_it(world, make_rule):
    rule = make_rule(q="type:ssh", cooldown_minutes=10)
    first, quiet, later = (connect(world.acme_ws, time=at(m)) for m in (0, 5, 11))
    record(first, quiet)
    run(rule)
    record(later)
    run(rule)

    assert firings(rule) == [ids(first), ids(later)]


def test_a_row_that_arrives_late_from_before_a_cooldown_still_fires(world, make_rule):
    """The cooldown silences the rows connected in the minutes after its firing, not a row
    from before it that reached connlogs later (live, it would have fired first)."""
    rule = make_rule(q="type:ssh", cooldown_minutes=10)
    first = connect(world.acme_ws, time=at(10))
    record(first)
    run(rule)
    late, quiet = connect(world.acme_ws, time=at(9)), connect(world.acme_ws, time=at(15))
    record(late, quiet)
    run(rule)

    assert firings(rule) == [ids(first), ids(late)]


def test_a_threshold_fires_once_per_qualifying_window(world, make_rule):
    rule = make_rule(
        kind=RuleKind.THRESHOLD, q="type:tunnel status_code:403", threshold=3, window_minutes=5
    )
    record(denied(world, 0), denied(world, 1), denied(world, 20))  # never 3 within 5 minutes
    run(rule)
    assert firings(rule) == []
    burst = [denied(world, m) for m in (30, 31, 32, 33)]
    record(*burst)
    run(rule)
    # 30, 31 and 32 qualify at 32 and fire together; 33 alone does not.
    assert firings(rule) == [ids(*burst[:3])]
    more = [denied(world, 34), denied(world, 35)]
    record(*more)
    run(rule)
    # A new window: 33, 34, 35 (the rows of the first firing no longer count).
    assert firings(rule) == [ids(*burst[:3]), ids(burst[3], *more)]


def cooling_threshold(make_rule):
    """Two 403s within 5 minutes fire; then 30 minutes of cooldown."""
    return make_rule(
        kind=RuleKind.THRESHOLD,
        q="status_code:403",
        threshold=2,
        window_minutes=5,
        cooldown_minutes=30,
    )


def test_a_threshold_respects_its_cooldown_then_fires_again(world, make_rule):
    rule = cooling_threshold(make_rule)
    first = [denied(world, m) for m in (0, 1)]
    cooling = [denied(world, m) for m in (2, 3, 20, 30)]  # inside the cooldown (until 31)
    after = [denied(world, m) for m in (31, 32)]
    record(*first, *cooling)
    run(rule)
    record(*after)
    run(rule)

    assert firings(rule) == [ids(*first), ids(*after)]


def test_a_threshold_counts_late_rows_from_before_its_cooldown(world, make_rule):
    """A threshold's cooldown silences the windows after its firing, not late rows from
    before it: two denials from before the firing that arrive afterwards fire on their own;
    two inside the cooldown do not."""
    rule = cooling_threshold(make_rule)
    first = [denied(world, m) for m in (10, 11)]  # fires at 11: cooling until 41
    record(*first)
    run(rule)
    late = [denied(world, m) for m in (7, 8)]
    quiet = [denied(world, m) for m in (15, 16)]
    record(*late, *quiet)
    run(rule)

    assert firings(rule) == [ids(*first), ids(*late)]


def test_a_new_address_for_its_owner_fires_and_a_known_one_does_not(world, make_rule):
    rule = make_rule(kind=RuleKind.NEW_ADDRESS, q="type:ssh", new_address_days=30)
    # Seen 10 days before from .7 (a web row counts: any type), 40 days before from .8.
    record(
        web(world.acme_ws, time="2025-06-30T10:00:00Z", ip="198.51.100.7"),
        connect(world.acme_ws, time="2025-05-31T10:00:00Z", ip="198.51.100.8"),
    )
    rule.cursor = latest_seq()
    rule.save()
    known = connect(world.acme_ws, time=at(0), ip="198.51.100.7")
    stale = connect(world.acme_ws, time=at(1), ip="198.51.100.8")
    new = connect(world.acme_ws, time=at(2), ip="203.0.113.9")
    again = connect(world.acme_ws, time=at(3), ip="203.0.113.9")
    other_owner = connect(world.globex_ws, time=at(4), ip="198.51.100.7")
    record(known, stale, new, again, other_owner)

    run(rule)

    assert firings(rule) == [ids(stale, new, other_owner)]


def test_a_rule_whose_view_is_gone_says_so_in_words(world, make_rule):
    from connlogs.savedviews.models import SavedView

    view = SavedView.objects.create(name="mine", owner=world.owner, q="type:ssh")
    view_id = str(view.id)
    rule = make_rule(view=view_id)
    view.delete()
    record(connect(world.acme_ws, time=at(0)))
    result = run(rule)
    assert result.error.startswith(f'The saved view "{view_id}" is gone')
    assert rule.last_error == result.error  # what the rule's API and page show
