"""Parsing of the value formats the contract accepts (UUIDs, RFC 3339 times, IP addresses),
and of the search language's own forms (relative times, dates, lengths, comparisons, networks).

Shared by the search language and the events endpoint, so both accept exactly the same text.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid

_UUID_FORMS = re.compile(
    r"^(?:\{(?P<braced>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}"
    r"|(?P<canonical>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<plain>[0-9a-f]{32}))$",
    re.IGNORECASE,
)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[t](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(z|[+-]\d{2}:\d{2})$",
    re.IGNORECASE,
)
RFC3339_LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"


def parse_uuid(text: str) -> uuid.UUID:
    """A UUID in canonical form, as 32 hex digits, or in braces; ``ValueError`` otherwise."""
    match = _UUID_FORMS.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"invalid UUID {text!r}")
    return uuid.UUID(next(group for group in match.groups() if group))


def parse_rfc3339(text: str) -> dt.datetime:
    """An RFC 3339 time with ``Z`` or an offset; ``ValueError`` with a reason otherwise."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'parsing time "{text}" as "{RFC3339_LAYOUT}": not an RFC 3339 time')
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if offset.lower() == "z":
        tz = dt.UTC
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f'parsing time "{text}": time zone offset out of range')
        tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        value = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
        # Year 1 or 9999 with an offset leaves datetime's range when moved to UTC.
        return value.astimezone(dt.UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f'parsing time "{text}": {error}') from None


def format_time(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z`` and trailing zeros of the fraction trimmed."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def normalize_ip(text: str) -> str | None:
    """A plain IP address (``localhost`` is 127.0.0.1); ``None`` when empty; ``ValueError``."""
    text = (text or "").strip()
    if not text:
        return None
    if text.lower() == "localhost":
        return "127.0.0.1"
    address = ipaddress.ip_address(text)
    # A zone (fe80::1%eth0) names an interface of the reporter's host, and inet refuses it.
    if getattr(address, "scope_id", None):
        raise ValueError(f"an address with a zone is not allowed: {text!r}")
    return str(address)


# --- the search language's own value forms (ours, beyond Coder's contract) ---------------

_RELATIVE = re.compile(r"^-(\d{1,9})([smhdw])$")
_LENGTH = re.compile(r"^(\d{1,9})([smhdw])$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_COMPARISON = re.compile(r"^(<=|>=|<|>)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_length(text: str) -> dt.timedelta:
    """A length of time as a count and a unit: ``90s``, ``15m``, ``8h``, ``7d``, ``2w``.

    ``ValueError`` otherwise (also when the length does not fit a ``timedelta``).
    """
    match = _LENGTH.match(text.strip().lower()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a length such as 90s, 15m, 8h, 7d or 2w")
    try:
        return dt.timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])
    except OverflowError:
        raise ValueError(f"{text!r} is too long") from None


def parse_search_time(text: str, now: dt.datetime, *, end_of_day: bool = False) -> dt.datetime:
    """A time of the search language, in UTC: ``ValueError`` with a reason otherwise.

    * RFC 3339 (Coder's only form): ``2026-11-24T09:00:00Z``, ``…+02:00``;
    * a time relative to ``now``: ``-15m``, ``-24h``, ``-7d``, ``-2w`` (also ``s``);
    * a bare date, a UTC day: its first microsecond, or with ``end_of_day`` its last
      (``…_before`` bounds are inclusive, so ``connected_before:2026-11-24`` keeps the day).
    """
    text = text.strip() if isinstance(text, str) else text
    relative = _RELATIVE.match(text.lower()) if isinstance(text, str) else None
    if relative:
        try:
            return now - parse_length(text[1:])
        except (ValueError, OverflowError):
            raise ValueError(f'parsing time "{text}": too far in the past') from None
    date = _DATE.match(text) if isinstance(text, str) else None
    if date:
        try:
            day = dt.datetime(int(date[1]), int(date[2]), int(date[3]), tzinfo=dt.UTC)
        except ValueError as error:
            raise ValueError(f'parsing time "{text}": {error}') from None
        return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end_of_day else day
    try:
        return parse_rfc3339(text)
    except ValueError:
        if isinstance(text, str) and _RFC3339.match(text):
            raise  # the right shape with an impossible value: keep the precise reason
        raise ValueError(
            f'parsing time "{text}": use an RFC 3339 time (quoted, 2006-01-02T15:04:05Z), '
            "a date (2006-01-02) or a relative time (-15m, -24h, -7d, -2w)"
        ) from None


def split_comparison(text: str) -> tuple[str, str]:
    """``(operator, rest)`` of ``>=400``: the operator is ``<``, ``<=``, ``>``, ``>=`` or ``=``
    when none is written."""
    match = _COMPARISON.match(text)
    if not match:
        return "=", text
    return match[1], text[len(match[1]) :]


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR block: ``10.0.0.0/8``, ``2001:db8::/32``; host bits are cleared
    (``10.1.2.3/24`` is ``10.1.2.0/24``, as PostgreSQL's ``<<=`` compares the network part)."""
    if not isinstance(text, str) or "/" not in text or "%" in text:
        raise ValueError(f"{text!r} is not a CIDR block")
    return ipaddress.ip_network(text.strip(), strict=False)
