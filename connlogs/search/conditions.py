"""What each search key means for a row: a ``Q`` per key, from its cleaned items (either item).

The keys that need the caller or a look-up of people are in the FilterSet; these need only
their items and, for times relative to the present, the search's one ``now``.

Several conditions are written to match a partial index's predicate word for word (the
same ``type IN (…)`` list, the same comparisons), so that PostgreSQL can prove the index
applies: ``AGENT``/``WEB`` are the sorted type lists the indexes in ``ConnectionLog.Meta``
and migrations 0002/0004 use. On PostgreSQL those compared values (types, codes, session
lengths) are written into the SQL, not bound, so that a prepared search's generic plan can
prove it too (``literals``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import operator
from collections.abc import Iterable
from functools import reduce

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F, Q
from django.db.models.lookups import Exact

from connlogs.literals import (
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Written,
)
from connlogs.models import AGENT_TYPES, FAILED, WEB_TYPES
from connlogs.search.fields import CodeRange, LengthComparison, WorkspaceName
from connlogs.search.lookups import FoldCase, FoldedContains, RowText
from connlogs.values import earlier

AGENT = sorted(str(kind) for kind in AGENT_TYPES)
WEB = sorted(str(kind) for kind in WEB_TYPES)
# The length below which no session is in cl_long_session_idx (migration 0007).
LONG_SESSION = dt.timedelta(hours=1)

_LENGTH_LOOKUPS = {
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
    "<": LessThan,
    "<=": LessThanOrEqual,
}
# ``now - connect_time <op> length`` as a bound on connect_time: the inequality turns round.
_AGE_BOUNDS = {">": "lt", ">=": "lte", "<": "gt", "<=": "gte"}


def either(conditions: Iterable[Q]) -> Q:
    """The items of one key are alternatives."""
    return reduce(operator.or_, conditions)


def session_length() -> ExpressionWrapper:
    return ExpressionWrapper(F("disconnect_time") - F("connect_time"), output_field=DurationField())


def ongoing() -> Q:
    return Q(type__in=AGENT, disconnect_time__isnull=True)


def status(items: tuple[str, ...], now: dt.datetime) -> Q:
    """``ongoing`` (stale included, as Coder's), ``completed``, ``stale``: agent rows only."""
    meanings = {
        "ongoing": ongoing,
        "completed": lambda: Q(type__in=AGENT, disconnect_time__isnull=False),
        "stale": lambda: ongoing() & Q(connect_time__lt=now - settings.CONNLOGS_STALE_AFTER),
    }
    return either(meanings[item]() for item in items)


def ip(items: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> Q:
    return either(Q(ip__within=str(network)) for network in items)


def workspace_name(item: WorkspaceName) -> Q:
    """The name the row recorded (the owner is the FilterSet's to resolve). Workspace names
    are lower-case (``NAME_VALIDATOR``, as Coder's) and ``q`` is lower-cased, so the plain
    comparison ignores case and uses ``cl_ws_name_time_idx`` (index-only for counts)."""
    return Q(workspace_name=item.name)


def agent(items: tuple[str, ...]) -> Q:
    """The agent's name, ignoring case: ``LOWER(agent_name) = name``, the leading column of
    ``cl_agent_time_idx`` on PostgreSQL (migration 0009), so a page walks the agent's rows in
    time order and a capped count reads the index alone."""
    return either(Q(Exact(FoldCase("agent_name"), item)) for item in items)


def _code(item: CodeRange) -> Q:
    condition = Q()
    if item.low is not None:
        condition &= Q(code__gte=item.low)
    if item.high is not None:
        condition &= Q(code__lte=item.high)
    return condition


def status_code(items: tuple[CodeRange, ...]) -> Q:
    """Web rows by HTTP status."""
    return Q(type__in=WEB) & either(_code(item) for item in items)


def exit_code(items: tuple[CodeRange, ...]) -> Q:
    """Agent rows by exit code (rows without one never match)."""
    return Q(type__in=AGENT) & either(_code(item) for item in items)


def result(items: tuple[str, ...]) -> Q:
    """``failed`` or ``ok``; rows without a result (ongoing, no exit code) are neither."""
    meanings = {
        "failed": lambda: FAILED,
        "ok": lambda: Q(type__in=WEB, code__lt=400) | Q(type__in=AGENT, code=0),
    }
    return either(meanings[item]() for item in items)


def authenticated(items: tuple[str, ...]) -> Q:
    """Web rows by whether the request carried a signed-in user (``yes``) or none (``no``).
    Agent sessions never name who connected, so they are neither."""
    meanings = {"yes": False, "no": True}
    return either(Q(type__in=WEB, user_id__isnull=meanings[item]) for item in items)


def active_after(start: dt.datetime) -> Q:
    """Active at or after ``start``: connected then or later, disconnected then or later, or
    still ongoing. Web rows (no disconnect) are points: their connect time only.

    Written so that each part has an index (the plain ``connect_time >= start OR
    disconnect_time >= start OR ongoing`` has none, and its capped count read the whole
    table at 1M rows): a session that ended at or after ``start`` either connected less than
    ``LONG_SESSION`` before it (a range of ``cl_time_idx``) or lasted at least that long
    (``cl_session_end_idx``); ongoing sessions are ``cl_ongoing_cover_idx``.

    The instants are written into the SQL on PostgreSQL (``literals``): the mix of these
    paths that is cheapest depends on ``start``, so it is planned for each search.
    """
    since, start = Written(earlier(start, LONG_SESSION)), Written(start)
    recent = Q(connect_time__gte=since) & (
        Q(connect_time__gte=start) | Q(disconnect_time__gte=start)
    )
    ended_late = Q(disconnect_time__gte=start) & Q(
        GreaterThanOrEqual(session_length(), LONG_SESSION)
    )
    return recent | ongoing() | ended_late


def active_before(end: dt.datetime) -> Q:
    """Active at or before ``end``: connected by then."""
    return Q(connect_time__lte=end)


def duration(items: tuple[LengthComparison, ...], now: dt.datetime) -> Q:
    """Agent sessions by length: completed ones by disconnect minus connect, ongoing ones up
    to ``now``."""

    def one(item: LengthComparison) -> Q:
        lookup = _LENGTH_LOOKUPS[item.operator]
        completed = Q(type__in=AGENT, disconnect_time__isnull=False) & Q(
            lookup(session_length(), item.length)
        )
        started = earlier(now, item.length)
        running = ongoing() & Q(**{f"connect_time__{_AGE_BOUNDS[item.operator]}": started})
        return completed | running

    return either(one(item) for item in items)


def row_text(word: str, *, with_ip: bool = True) -> Q:
    """The word in the row's own text (workspace, agent, slug or port, IP; ``with_ip=False``:
    without the IP)."""
    return Q(FoldedContains(RowText(with_ip=with_ip), word))
