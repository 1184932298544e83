"""How one connection log reads on a page: labels, who connected, state, result pill.

Nothing here queries the database or decides who sees what; it only words what a row
already holds, so the list, the detail page and their tests share one wording.
"""

from __future__ import annotations

import datetime as dt
import http
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from user_agents import parse as parse_user_agent

from connlogs import timebounds
from connlogs.models import WEB_TYPES, ConnectionLog, ConnectionType

TYPE_LABELS: dict[str, str] = dict(ConnectionType.choices)
# The longer label menus and the detail page use; the list keeps the short one.
TYPE_DESCRIPTIONS: dict[str, str] = {
    **TYPE_LABELS,
    ConnectionType.RECONNECTING_PTY: "Web terminal (reconnecting PTY)",
}


def type_label(kind: str) -> str:
    return TYPE_LABELS.get(kind, kind)


def duration_text(delta: dt.timedelta | None) -> str:
    """``2d 3h``, ``3h 12m``, ``5m 12s``, ``42s``: the two largest units that matter."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


@dataclass(frozen=True)
class Pill:
    """A result shown as text first (``exit 137``) with a tone the stylesheet colours."""

    text: str
    tone: str  # ok | info | warn | bad
    symbol: str  # a glyph that carries the meaning without colour
    title: str


def _http_phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def http_pill(code: int, kind: str) -> Pill:
    phrase = _http_phrase(code)
    if kind == ConnectionType.TUNNEL and code in (101, 403):
        meaning = "accepted" if code == 101 else "denied"
        tone, symbol = ("ok", "✓") if code == 101 else ("bad", "✗")
        return Pill(f"{code} {meaning}", tone, symbol, f"HTTP {code} {phrase}: tunnel {meaning}")
    if code < 200:
        tone, symbol = "info", "⇄"
    elif code < 300:
        tone, symbol = "ok", "✓"
    elif code < 400:
        tone, symbol = "info", "↪"
    elif code < 500:
        tone, symbol = "warn", "✗"
    else:
        tone, symbol = "bad", "✗"
    text = f"{code} {phrase}".strip()
    return Pill(text, tone, symbol, f"HTTP status {text}")


def exit_pill(code: int) -> Pill:
    if code == 0:
        return Pill("exit 0", "ok", "✓", "Exit code 0: the session ended normally")
    return Pill(f"exit {code}", "bad", "✗", f"Exit code {code}: the session ended with an error")


@dataclass(frozen=True)
class Who:
    text: str
    kind: str  # user | unauthenticated | agent
    email: str = ""


class LogRow:
    """A connection log as the pages show it."""

    def __init__(self, row: ConnectionLog, now: dt.datetime | None = None):
        self.row = row
        self.now = now or timezone.now()
        # ``{part: address}`` of the list narrowed to this row's values (set by the page).
        self.filters: dict[str, str] = {}

    def __getattr__(self, name):
        # Everything not worded here is the model's own field.
        return getattr(self.row, name)

    @property
    def type_label(self) -> str:
        return type_label(self.row.type)

    @property
    def type_description(self) -> str:
        return TYPE_DESCRIPTIONS.get(self.row.type, self.row.type)

    @property
    def is_web(self) -> bool:
        return self.row.type in WEB_TYPES

    @property
    def who(self) -> Who:
        if not self.is_web:
            return Who("reported by the agent", "agent")
        if self.row.user_id is None:
            return Who("unauthenticated", "unauthenticated")
        return Who(self.row.user.username, "user", self.row.user.email)

    @property
    def workspace_label(self) -> str:
        return f"{self.row.workspace_owner.username}/{self.row.workspace_name}"

    @property
    def is_ongoing(self) -> bool:
        return not self.is_web and self.row.disconnect_time is None

    @property
    def is_stale(self) -> bool:
        """Ongoing for longer than ``CONNLOGS_STALE_AFTER``: no disconnect was ever received
        (the agent may have died), as ``status:stale`` finds."""
        return self.is_ongoing and self.row.connect_time < self.now - settings.CONNLOGS_STALE_AFTER

    @property
    def stale_text(self) -> str:
        """``no disconnect received · 28 d``: a stale session's state, in whole days when
        it is a day old or more."""
        age = self.now - self.row.connect_time
        return (
            f"no disconnect received · {age.days} d"
            if age.days
            else (f"no disconnect received · {duration_text(age)}")
        )

    @property
    def ends_another_day(self) -> bool:
        """The disconnect falls on another calendar day (display zone) than the connect."""
        end = self.row.disconnect_time
        if end is None:
            return False
        return (
            timebounds.localtime(end).date() != timebounds.localtime(self.row.connect_time).date()
        )

    @property
    def result(self) -> str:
        """``failed``, ``ok`` or ``""`` as ``result:`` of the search language reads the row:
        web rows by status (≥ 400 failed), agent rows by exit code (non-zero failed); rows
        without one (ongoing, none reported, web rows recorded without a status) neither."""
        code = self.row.code
        if code is None:
            return ""
        if self.is_web:
            return "failed" if code >= 400 else "ok"
        return "failed" if code != 0 else "ok"

    @property
    def duration(self) -> dt.timedelta | None:
        if self.is_web:
            return None
        end = self.row.disconnect_time or self.now
        return end - self.row.connect_time

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration)

    @property
    def pill(self) -> Pill | None:
        code = self.row.code
        if self.is_web:
            # The contract reports 200 for a web row recorded without a status.
            return http_pill(200 if code is None else code, self.row.type)
        if code is None:
            return None
        return exit_pill(code)

    @property
    def target(self) -> str:
        """What a web request opened: the app slug or the port."""
        return self.row.slug_or_port if self.is_web else ""


@dataclass
class Day:
    date: dt.date
    rows: list[LogRow]


def group_by_day(rows: Iterable[LogRow]) -> list[Day]:
    """Rows under a header per calendar day, in the active (display) time zone (in UTC for
    a time that zone's calendar cannot hold, as the row's time is then shown)."""
    return [
        Day(date, list(day_rows))
        for date, day_rows in itertools.groupby(
            rows, key=lambda row: timebounds.localtime(row.row.connect_time).date()
        )
    ]


@dataclass(frozen=True)
class UserAgent:
    browser: str
    os: str
    device: str
    is_bot: bool


def parsed_user_agent(text: str) -> UserAgent | None:
    """Browser, OS and device read from a User-Agent header (``None`` when there is none)."""
    if not text:
        return None
    agent = parse_user_agent(text)

    def named(part) -> str:
        if part.family in ("Other", ""):
            return "unknown"
        return f"{part.family} {part.version_string}".strip()

    if agent.is_bot:
        device = "Bot"
    elif agent.is_tablet:
        device = "Tablet"
    elif agent.is_mobile:
        device = "Mobile"
    elif agent.is_pc:
        device = "Desktop"
    else:
        device = "unknown"
    return UserAgent(named(agent.browser), named(agent.os), device, agent.is_bot)
