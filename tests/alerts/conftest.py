"""Alert rules' fixtures: the feed's small world, a loopback HTTP receiver, a rule factory,
events at chosen times, and a round run as a worker would."""

from __future__ import annotations

import pytest

from connlogs.alerts import rounds
from connlogs.alerts.models import AlertFiring, AlertRule, Channel, RuleKind
from tests.feed.conftest import world  # noqa: F401 - the feed's fixture, shared
from tests.streams.conftest import receiver  # noqa: F401 - the streams' loopback receiver


def at(minute: float) -> str:
    """An event time ``minute`` minutes after 2025-07-10T10:00:00Z."""
    seconds = round(minute * 60)
    return f"2025-07-10T{10 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


@pytest.fixture
def make_rule(world, receiver):  # noqa: F811 - the shared fixtures
    def make(**fields) -> AlertRule:
        fields.setdefault("name", "watch")
        fields.setdefault("kind", RuleKind.EACH_MATCH)
        fields.setdefault("channel", Channel.WEBHOOK)
        fields.setdefault("url", receiver.url)
        fields.setdefault("created_by", world.owner)
        secret = fields.pop("secret", "")
        rule = AlertRule(**fields)
        rule.set_secret(secret)
        rule.save()
        return rule

    return make


def run(rule: AlertRule, worker: str = "w1") -> rounds.RoundResult:
    """One round of ``rule`` as worker ``worker``, then its fresh state on ``rule``."""
    result = rounds.evaluate_round(rule.pk, worker)
    rule.refresh_from_db()
    return result


def firings(rule: AlertRule) -> list[set[str]]:
    """Each firing of ``rule``'s rows (their ids as text), oldest first."""
    found = AlertFiring.objects.filter(rule=rule).order_by("fired_at", "window_end", "id")
    return [{str(row.log_id) for row in firing.rows.all()} for firing in found]
