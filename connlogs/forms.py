"""The sign-in form and the list page's search menus.

The menus are a view of ``q``, never a second query language: each reads its value back from
the parsed terms of ``q`` and, when changed, writes a term into ``q`` with ``search.build``.
The server then redirects to the resulting ``?q=``, so every state is an address and the
filters are validated by the one FilterSet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from connlogs import search, throttle, values
from connlogs.filtersets import STATUS_VALUES, ConnectionLogFilterSet, q_param
from connlogs.models import ConnectionType, User
from connlogs.tables import TYPE_DESCRIPTIONS

# --- sign-in ------------------------------------------------------------------------------


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, by username or email, with the API's lockout counters."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Incorrect username, email or password.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = "Username or email"
        field.max_length = 254
        field.widget.attrs.update({"maxlength": 254, "autocomplete": "username"})
        self.retry_after = 0

    def _account(self, identifier: str) -> tuple[str, User | None]:
        """The throttle's account key (the email, as the API uses) and the account."""
        if "@" in identifier:
            account = User.objects.filter(email=identifier.strip().lower()).first()
        else:
            account = User.objects.filter(username__iexact=identifier.strip()).first()
        return (account.email if account else identifier), account

    def clean(self):
        identifier = self.cleaned_data.get("username") or ""
        key, account = self._account(identifier)
        address = throttle.client_address(self.request)
        wait = throttle.retry_after(key, address)
        if wait:
            self.retry_after = wait
            raise ValidationError(throttle.lockout_message(wait), code="locked_out")
        if account is not None:
            # Django authenticates by username; an email was mapped to its account above.
            self.cleaned_data["username"] = account.username
        try:
            super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                throttle.record_failure(key, address)
            raise
        throttle.record_success(key, address)
        return self.cleaned_data


# --- the list page's menus ----------------------------------------------------------------

PAGE_SIZES: tuple[int, ...] = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]

RANGE_PRESETS: dict[str, tuple[str, dt.timedelta]] = {
    "1h": ("Last hour", dt.timedelta(hours=1)),
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
}
CUSTOM_RANGE = "custom"
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M:%S"

# The menus a submitted form may carry, and the hidden field that says what they showed.
MENU_FIELDS: tuple[str, ...] = (
    "organization",
    "type",
    "status",
    "workspace_owner",
    "range",
    "from",
    "to",
)
SHOWN_FIELD = "shown"


def page_size(text: str | None) -> int:
    try:
        size = int(text or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def time_to_input(text: str) -> str:
    """A ``q`` time as a ``datetime-local`` value in the display zone (raw text if invalid)."""
    if not text:
        return ""
    try:
        moment = values.parse_rfc3339(text)
    except ValueError:
        return text
    return timezone.localtime(moment).strftime(LOCAL_INPUT_FORMAT)


def input_to_time(text: str) -> str:
    """A ``datetime-local`` value (display zone) as a ``q`` time in UTC.

    Text that is not such a value is written as typed, so the FilterSet reports it with
    the contract's sentence instead of the menu dropping it silently.
    """
    text = text.strip()
    if not text:
        return ""
    for layout in (LOCAL_INPUT_FORMAT, "%Y-%m-%dT%H:%M"):
        try:
            naive = dt.datetime.strptime(text, layout)
        except ValueError:
            continue
        return values.format_time(timezone.make_aware(naive))
    return text


def detect_range(terms: dict[str, str], now: dt.datetime) -> str:
    """The preset a time range still matches (within 2%), ``custom``, or ``""`` for none."""
    after, before = terms.get("connected_after", ""), terms.get("connected_before", "")
    if not after and not before:
        return ""
    if before or not after:
        return CUSTOM_RANGE
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
    return {
        "organization": terms.get("organization", ""),
        "type": terms.get("type", ""),
        "status": terms.get("status", ""),
        "workspace_owner": terms.get("workspace_owner", ""),
        "range": detect_range(terms, now),
        "from": time_to_input(terms.get("connected_after", "")),
        "to": time_to_input(terms.get("connected_before", "")),
    }


def normalise_time_terms(terms: dict[str, str]) -> dict[str, str]:
    """``q`` is lower-cased by the parser; write valid times back in their usual case."""
    result = dict(terms)
    for key in ("connected_after", "connected_before"):
        if result.get(key):
            try:
                result[key] = values.format_time(values.parse_rfc3339(result[key]))
            except ValueError:
                pass
    return result


def with_terms(q: str, **changes: str) -> str:
    """``q`` with some terms set (``""`` removes one), or ``q`` unchanged if it does not parse.

    Used by every link that narrows the list (chart bars, "show only this").
    """
    parsed = search.parse(q, ConnectionLogFilterSet.base_filters)
    if parsed.errors:
        return q
    terms = normalise_time_terms(parsed.terms)
    for key, value in changes.items():
        terms.pop(key, None)
        if value:
            terms[key] = value
    return search.build(terms)


def is_submission(params: QueryDict) -> bool:
    return SHOWN_FIELD in params or any(name in params for name in MENU_FIELDS)


def encode_shown(shown: dict[str, str]) -> str:
    return urlencode(shown)


def _same(name: str, submitted: str, shown: str | None) -> bool:
    if shown is None:
        return False
    if name in ("from", "to"):
        # Browsers may send 10:00 for a shown 10:00:00: compare the times, not the text.
        return input_to_time(submitted) == input_to_time(shown)
    return submitted == shown


def submitted_q(params: QueryDict, now: dt.datetime) -> str:
    """The ``q`` a submitted search form asks for: the box's text, plus every menu that the
    user changed from what it showed. Menus left alone never rewrite what was typed."""
    q = q_param(params)
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
    for name in ("organization", "type", "status", "workspace_owner"):
        if name in changed:
            updates[name] = changed[name]
    if "range" in changed and changed["range"] != CUSTOM_RANGE:
        preset = RANGE_PRESETS.get(changed["range"])
        since = ""
        if preset:
            since = values.format_time((now - preset[1]).replace(second=0, microsecond=0))
        updates["connected_after"] = since
        updates["connected_before"] = ""
    if "from" in changed:
        updates["connected_after"] = input_to_time(changed["from"])
    if "to" in changed:
        updates["connected_before"] = input_to_time(changed["to"])

    terms = normalise_time_terms(parsed.terms)
    for key, value in updates.items():
        terms.pop(key, None)
        if value:
            terms[key] = value
    return search.build(terms)


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


def range_options() -> list[Option]:
    options = [Option("", "Any time")]
    options += [Option(key, label) for key, (label, _) in RANGE_PRESETS.items()]
    options.append(Option(CUSTOM_RANGE, "Custom range"))
    return options
