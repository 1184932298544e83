"""Parsing of the value formats the contract accepts (UUIDs, RFC 3339 times, IP addresses).

Shared by the search language and the events endpoint, so both accept exactly the same text.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid

from connlogs import timebounds

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
    """RFC 3339 in UTC with ``Z`` and trailing zeros of the fraction trimmed.

    The year always has four digits (``0001-01-01T00:00:00Z``; RFC 3339's ``date-fullyear``),
    which ``strftime("%Y")`` does not write on Linux. A local time beyond year 9999 (or before
    year 1) in UTC is written as the end of the range (``timebounds.to_utc``).
    """
    if value is None:
        return None
    value = timebounds.to_utc(value)
    text = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}"
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
