"""Turning a rule's new matches into firings: what fires, with which rows, and the cooldown.

Times are the rows' own connect times, never the worker's clock: a backlog evaluated after an
outage fires as it would have live, and a retry of the same entries decides the same way.

* **each new match**: every matching row not yet part of one of the rule's firings fires
  (the rows of one feed read together, in one firing); with a cooldown, a firing opens a quiet
  period of ``cooldown_minutes`` from its row's connect time, and rows connected inside it are
  skipped.
* **threshold**: a new match closes a window ``(t - W, t]`` of the rule's matching rows not yet
  part of a firing (and not connected during a cooldown); when it holds at least ``threshold``
  rows they fire together, once, and the cooldown starts at ``t``.
* **new address**: like each new match, for rows whose IP the workspace owner has not
  connected from during the ``new_address_days`` before (in the rule's scope; any type).

A row is part of at most one firing of a rule (``AlertFiringRow`` is unique per rule and row),
so an ``updated`` feed entry of a row that fired on its ``created`` entry fires nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.db.models import QuerySet

from connlogs.alerts.models import AlertFiringRow, AlertRule, RuleKind
from connlogs.feed.reading import Change
from connlogs.savedviews.resolve import query_of
from connlogs.search.request import LogSearch

# Rows one firing holds at most: each-match firings of a large read are split; a threshold
# window is read up to this many rows (its link and notification list them all).
MAX_FIRING_ROWS = 1000


@dataclass(frozen=True)
class Match:
    """A matching row: its ``id`` and ``connect_time``."""

    id: uuid.UUID
    time: dt.datetime


@dataclass
class Planned:
    """A firing to record: its ``rows`` (oldest first)."""

    rows: list[Match] = field(default_factory=list)

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        return self.rows[0].time, self.rows[-1].time


@dataclass
class Outcome:
    """What a read of new matches gives: the firings to record and the rule's new
    ``cooldown_until`` (unchanged when nothing fired)."""

    firings: list[Planned]
    cooldown_until: dt.datetime | None


def rule_search(rule: AlertRule) -> str:
    """The ``q`` the rule watches: its own or its view's, narrowed to its organization (first,
    so the rule's own ``organization:`` cannot widen it: the first of a repeated key wins)."""
    q = query_of(rule.view, rule.created_by) if rule.view else rule.q
    if rule.organization_id:
        q = f"organization:{rule.organization_id} {q}"
    return q


def _fired_ids(rule: AlertRule, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(
        AlertFiringRow.objects.filter(rule_id=rule.pk, log_id__in=ids).values_list(
            "log_id", flat=True
        )
    )


def new_matches(rule: AlertRule, changes: list[Change]) -> list[Match]:
    """The rows of ``changes`` (each once) that no firing of ``rule`` holds, oldest first."""
    rows = {change.row.id: change.row for change in changes}
    fired = _fired_ids(rule, list(rows))
    found = [Match(row.id, row.connect_time) for row in rows.values() if row.id not in fired]
    return sorted(found, key=lambda match: (match.time, match.id))


def _cooling(rule: AlertRule, cooldown_until: dt.datetime | None, time: dt.datetime) -> bool:
    """Was a row connected at ``time`` inside the cooldown that ends at ``cooldown_until``
    (``[until - cooldown_minutes, until)``)? A row connected before the firing that started
    it arrived late: it fires, as it would have live (docs/alerts.md)."""
    if cooldown_until is None:
        return False
    return cooldown_until - dt.timedelta(minutes=rule.cooldown_minutes) <= time < cooldown_until


def _later_end(until: dt.datetime | None, end: dt.datetime) -> dt.datetime:
    """The cooldown's end after a firing: a late row's firing never shortens one running."""
    return end if until is None else max(until, end)


def each_match(rule: AlertRule, matches: list[Match]) -> Outcome:
    """One firing for the matches outside the cooldown (split at ``MAX_FIRING_ROWS``); with a
    cooldown, each firing is one row and silences the rows connected within it."""
    cooldown = dt.timedelta(minutes=rule.cooldown_minutes)
    until = rule.cooldown_until
    firings: list[Planned] = []
    for match in matches:
        if _cooling(rule, until, match.time):
            continue
        if cooldown or not firings or len(firings[-1].rows) >= MAX_FIRING_ROWS:
            firings.append(Planned())
        firings[-1].rows.append(match)
        if cooldown:
            until = _later_end(until, match.time + cooldown)
    return Outcome(firings, until)


def _window_rows(rule: AlertRule, q: str, start: dt.datetime, end: dt.datetime) -> list[Match]:
    """The rule's matching rows connected in ``[start, end]`` that no firing holds yet."""
    fired = AlertFiringRow.objects.filter(rule_id=rule.pk).values("log_id")
    rows = (
        LogSearch.for_user(rule.created_by, q)
        .matching.filter(connect_time__gte=start, connect_time__lte=end)
        .exclude(id__in=fired)
        .order_by("connect_time", "id")
        .values_list("id", "connect_time")
    )
    return [Match(pk, time) for pk, time in rows[: MAX_FIRING_ROWS * 10]]


def threshold(rule: AlertRule, matches: list[Match], q: str) -> Outcome:
    """Fire each window ``(t - W, t]`` ending at a new match ``t`` that holds at least
    ``rule.threshold`` unfired rows connected after the cooldown; once per window: its rows
    are then taken, and the cooldown starts at ``t``."""
    if not matches:
        return Outcome([], rule.cooldown_until)
    width = dt.timedelta(minutes=rule.window_minutes)
    cooldown = dt.timedelta(minutes=rule.cooldown_minutes)
    candidates = _window_rows(rule, q, matches[0].time - width, matches[-1].time)
    taken: set[uuid.UUID] = set()
    until = rule.cooldown_until
    firings: list[Planned] = []
    for match in matches:
        if _cooling(rule, until, match.time):
            continue
        window = [
            row
            for row in candidates
            if match.time - width < row.time <= match.time
            and row.id not in taken
            and not _cooling(rule, until, row.time)
        ]
        if len(window) >= rule.threshold:
            firings.append(Planned(window[:MAX_FIRING_ROWS]))
            taken.update(row.id for row in window)
            until = _later_end(until, match.time + cooldown) if cooldown else until
    return Outcome(firings, until)


def earlier_from_address(rule: AlertRule, row) -> QuerySet:
    """The connections of ``row``'s workspace owner (any type, in the rule's creator's scope)
    from ``row``'s IP during the ``new_address_days`` before it: a probe of
    ``cl_owner_ip_time_idx`` (owner, IP, then the time range)."""
    since = row.connect_time - dt.timedelta(days=rule.new_address_days)
    return LogSearch.for_user(rule.created_by, "").matching.filter(
        ip=row.ip,
        workspace_owner_id=row.workspace_owner_id,
        connect_time__gte=since,
        connect_time__lt=row.connect_time,
    )


def address_is_new(rule: AlertRule, changes: dict[uuid.UUID, Change], match: Match) -> bool:
    """Is the row's IP new for its workspace owner (``earlier_from_address`` finds nothing)?
    A row without an IP is never new."""
    row = changes[match.id].row
    return bool(row.ip) and not earlier_from_address(rule, row).exists()


def evaluate(rule: AlertRule, changes: list[Change], q: str) -> Outcome:
    """The firings ``changes`` (one feed read, matching ``q``) give ``rule``."""
    matches = new_matches(rule, changes)
    if rule.kind == RuleKind.THRESHOLD:
        return threshold(rule, matches, q)
    if rule.kind == RuleKind.NEW_ADDRESS:
        by_id = {change.row.id: change for change in changes}
        matches = [match for match in matches if address_is_new(rule, by_id, match)]
    return each_match(rule, matches)
