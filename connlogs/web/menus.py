"""The list page's search menus: a view of ``q``, never a second query language.

Each menu reads its value back from the parsed terms of ``q`` and, when changed, writes a
term into ``q``; the server then redirects to the resulting ``?q=``, so every state is an
address and the filters are validated by the one FilterSet. ``SearchMenus`` is what one page
shows, built once from its ``LogSearch``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from django.http import QueryDict
from django.utils import timezone

from connlogs import search, timebounds, values
from connlogs.models import ConnectionType
from connlogs.search.filterset import RESULT_VALUES, STATUS_VALUES, ConnectionLogFilterSet
from connlogs.search.request import LogSearch, query_text
from connlogs.web import links
from connlogs.web.params import choice
from connlogs.web.tables import TYPE_DESCRIPTIONS

RANGE_PRESETS: dict[str, tuple[str, dt.timedelta]] = {
    "1h": ("Last hour", dt.timedelta(hours=1)),
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
}
CUSTOM_RANGE = "custom"
# The time control's two readings of a range: rows that started in it (Coder's
# connected_after/before) or rows active at some moment of it (overlap: active_after/before).
STARTED, ACTIVE = "started", "active"
TIME_TERMS: dict[str, tuple[str, str]] = {
    STARTED: ("connected_after", "connected_before"),
    ACTIVE: ("active_after", "active_before"),
}
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"

# The menus a submitted form may carry, and the hidden field that says what they showed.
MENU_FIELDS: tuple[str, ...] = (
    "organization",
    "type",
    "status",
    "workspace_owner",
    "workspace",
    "result",
    "during",
    "range",
    "from",
    "to",
)
SHOWN_FIELD = "shown"


def time_to_input(text: str) -> str:
    """A ``q`` time as a ``datetime-local`` value in the display zone (raw text if invalid).

    A time that zone's calendar cannot hold (year 1 in New York) is its first or last
    wall-clock second.
    """
    if not text:
        return ""
    try:
        moment = values.parse_rfc3339(text)
    except ValueError:
        return text
    wall = timebounds.wall_clock(moment)
    return f"{wall.year:04d}-{wall:%m-%dT%H:%M:%S}"


# ``datetime-local`` values, with the part of a second each one leaves out: a "to" of
# 15:31 means up to the end of that minute (15:31:59.999999), of 15:31:20 to the end of
# that second, so the rows of the minute a person typed are in the range.
_INPUT_LAYOUTS: tuple[tuple[str, dt.timedelta], ...] = (
    ("%Y-%m-%dT%H:%M:%S.%f", dt.timedelta(0)),
    (LOCAL_INPUT_FORMAT, dt.timedelta(microseconds=999_999)),
    ("%Y-%m-%dT%H:%M", dt.timedelta(seconds=59, microseconds=999_999)),
)


def input_to_time(text: str, *, end: bool = False) -> str:
    """A ``datetime-local`` value (display zone) as a ``q`` time in UTC.

    ``end``: the value ends a range, and includes the whole minute or second it names.
    Text that is not such a value is written as typed, so the FilterSet reports it with
    the contract's sentence instead of the menu dropping it silently.
    """
    text = text.strip()
    if not text or not text.isascii():
        # (``strptime`` reads other scripts' digits; the search language does not)
        return text
    for layout, rest in _INPUT_LAYOUTS:
        try:
            naive = dt.datetime.strptime(text, layout)
        except ValueError:
            continue
        if end:
            naive += rest  # never past 23:59:59.999999 of the same day
        return values.format_time(timezone.make_aware(naive))
    return text


def time_reading(terms: dict[str, str]) -> str:
    """``active`` when ``q`` names only an overlap window, else ``started``."""
    started = any(terms.get(key) for key in TIME_TERMS[STARTED])
    active = any(terms.get(key) for key in TIME_TERMS[ACTIVE])
    return ACTIVE if active and not started else STARTED


def detect_range(after: str, before: str, now: dt.datetime) -> str:
    """The preset a time range (``q`` values of its two bounds) still matches (within 2%, or
    written as the preset's relative time, ``-24h``), ``custom``, or ``""`` for none."""
    if not after and not before:
        return ""
    if before or not after:
        return CUSTOM_RANGE
    if after.startswith("-") and after[1:] in RANGE_PRESETS:
        return after[1:]
    try:
        since = now - values.parse_rfc3339(after)
    except ValueError:
        return CUSTOM_RANGE
    for key, (_, length) in RANGE_PRESETS.items():
        if abs(since - length) <= max(dt.timedelta(minutes=2), length * 0.02):
            return key
    return CUSTOM_RANGE


def menu_values(terms: dict[str, str], now: dt.datetime) -> dict[str, str]:
    """What each menu shows for these terms of ``q``."""
    during = time_reading(terms)
    after_key, before_key = TIME_TERMS[during]
    after, before = terms.get(after_key, ""), terms.get(before_key, "")
    return {
        "organization": terms.get("organization", ""),
        "type": terms.get("type", ""),
        "status": terms.get("status", ""),
        "workspace_owner": terms.get("workspace_owner", ""),
        "workspace": terms.get("workspace", ""),
        "result": terms.get("result", ""),
        "during": during,
        "range": detect_range(after, before, now),
        "from": time_to_input(after),
        "to": time_to_input(before),
    }


def submission_errors(params: QueryDict) -> list:
    """The ``Validation`` of a submitted ``during`` or ``range`` that no menu offers (they
    are not written into ``q`` as typed, so the FilterSet would never see them)."""
    return choice(params, "during", TIME_TERMS) + choice(
        params, "range", (*RANGE_PRESETS, CUSTOM_RANGE)
    )


def is_submission(params: QueryDict) -> bool:
    return SHOWN_FIELD in params or any(name in params for name in MENU_FIELDS)


def encode_shown(shown: dict[str, str]) -> str:
    return urlencode(shown)


def _same(name: str, submitted: str, shown: str | None) -> bool:
    if shown is None:
        return False
    if name in ("from", "to"):
        # Browsers may send 10:00 for a shown 10:00:00: compare the times, not the text.
        end = name == "to"
        return input_to_time(submitted, end=end) == input_to_time(shown, end=end)
    return submitted == shown


def submitted_q(params: QueryDict) -> str:
    """The ``q`` a submitted search form asks for: the box's text, plus every menu that the
    user changed from what it showed. Menus left alone never rewrite what was typed."""
    q = query_text(params)
    shown = dict(parse_qsl(params.get(SHOWN_FIELD, ""), keep_blank_values=True))
    changed = {
        name: params.get(name, "").strip()
        for name in MENU_FIELDS
        if name in params and not _same(name, params.get(name, "").strip(), shown.get(name))
    }
    if not changed:
        return q.strip()
    parsed = search.parse(q, ConnectionLogFilterSet.base_filters)
    if parsed.errors:
        # Terms cannot be written into text that does not parse; its errors are shown.
        return q.strip()

    updates: dict[str, str] = {}
    for name in ("organization", "type", "status", "workspace_owner", "workspace", "result"):
        if name in changed:
            # A value chosen keeps only its rows: its own exclusion (-type:ssh) goes.
            updates.update(links.including(parsed.terms, name, changed[name]))
    updates.update(_time_updates(parsed.terms, changed))
    return links.replace_terms(parsed.terms, updates)


def _time_updates(terms: dict[str, str], changed: dict[str, str]) -> dict:
    """The time terms a submission writes: a new reading (``during``) moves the window to its
    keys; a new range, "from" or "to" is written into the keys of the reading chosen."""
    during = changed.get("during") or time_reading(terms)
    if during not in TIME_TERMS:
        during = STARTED
    after_key, before_key = TIME_TERMS[during]
    updates: dict[str, str] = {}
    if "during" in changed:
        other = ACTIVE if during == STARTED else STARTED
        written = links.normalise_time_terms(terms)
        for old, new in zip(TIME_TERMS[other], TIME_TERMS[during], strict=True):
            updates[new] = written.get(old, "") or written.get(new, "")
            updates[old] = ""
    if "range" in changed and changed["range"] != CUSTOM_RANGE:
        # A relative time (``-24h``), as the quick searches write it: a bookmark or a saved
        # view of "the last 24 hours" keeps meaning the last 24 hours.
        updates[after_key] = f"-{changed['range']}" if changed["range"] in RANGE_PRESETS else ""
        updates[before_key] = ""
    if "from" in changed:
        updates[after_key] = input_to_time(changed["from"])
    if "to" in changed:
        updates[before_key] = input_to_time(changed["to"], end=True)
    return updates


# --- what the menus offer -----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


def with_current(options: list[Option], current: str) -> list[Option]:
    """Keep a value typed into ``q`` that no option names, so the menu shows it as it is."""
    if current and all(option.value != current for option in options):
        return [*options, Option(current, f"{current} (from search)")]
    return options


def type_options(current: str) -> list[Option]:
    options = [Option("", "Any type")] + [
        Option(value, TYPE_DESCRIPTIONS[value]) for value in ConnectionType.values
    ]
    return with_current(options, current)


def status_options(current: str) -> list[Option]:
    options = [Option("", "Any status")] + [
        Option(value, value.capitalize()) for value in STATUS_VALUES
    ]
    return with_current(options, current)


def organization_options(organizations, current: str) -> list[Option]:
    options = [Option("", "All organizations")] + [
        Option(organization.name, organization.display_name or organization.name)
        for organization in organizations
    ]
    return with_current(options, current)


def result_options(current: str) -> list[Option]:
    labels = {"failed": "Failed (status ≥ 400, exit code ≠ 0)", "ok": "OK"}
    options = [Option("", "Any result")] + [Option(value, labels[value]) for value in RESULT_VALUES]
    return with_current(options, current)


def during_options() -> list[Option]:
    return [Option(STARTED, "Started during"), Option(ACTIVE, "Active during")]


def range_options() -> list[Option]:
    options = [Option("", "Any time")]
    options += [Option(key, label) for key, (label, _) in RANGE_PRESETS.items()]
    options.append(Option(CUSTOM_RANGE, "Custom range"))
    return options


@dataclass(frozen=True)
class SearchMenus:
    """What the menus of one list page show: each menu's value, its choices, and whether
    they can be used (not while ``q`` does not parse: terms cannot be written into it)."""

    shown: dict[str, str]
    disabled: bool
    organization_options: list[Option] | None
    type_options: list[Option]
    status_options: list[Option]
    result_options: list[Option]
    during_options: list[Option]
    range_options: list[Option]
    owner_hints: list[str]

    @classmethod
    def for_search(
        cls, found: LogSearch, organizations: list, owner_hints: list[str], now: dt.datetime
    ) -> SearchMenus:
        """The menus of ``found``; the organization menu only when there is a choice."""
        shown = menu_values(found.terms, now)
        return cls(
            shown=shown,
            disabled=found.has_grammar_errors,
            organization_options=(
                organization_options(organizations, shown["organization"])
                if len(organizations) > 1
                else None
            ),
            type_options=type_options(shown["type"]),
            status_options=status_options(shown["status"]),
            result_options=result_options(shown["result"]),
            during_options=during_options(),
            range_options=range_options(),
            owner_hints=owner_hints,
        )

    @property
    def encoded(self) -> str:
        """The hidden ``shown`` field: what the menus showed, so a submission can tell
        which menus the user changed."""
        return encode_shown(self.shown)
