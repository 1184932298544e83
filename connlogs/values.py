"""Parsing of the value formats the contract accepts (UUIDs, RFC 3339 times, IP addresses),
and of the search language's own forms (relative times, dates, lengths, comparisons, networks).

Shared by the search language and the events endpoint, so both accept exactly the same text.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import uuid

from connlogs import timebounds

# google/uuid's Parse (github.com/google/uuid, uuid.go): byte offsets of the 16 hex pairs in
# the 36-byte form, and the hex digits ``xtob`` reads (either case).
_HEX_PAIRS = (0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34)
_DASHES = (8, 13, 18, 23)
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_URN_PREFIX = b"urn:uuid:"

# ASCII digits only: ``\d`` would also match other scripts' digits (Arabic-Indic, full-width
# ...), which ``int`` reads as numbers, so "٢٠٣١-01-01T00:00:00Z" would be the year 2031.
_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[t]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(z|[+-][0-9]{2}:[0-9]{2})$",
    re.IGNORECASE,
)
RFC3339_LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"


_ASCII_DIGITS = re.compile(r"[0-9]+")


def whole_number(text: str, ceiling: int) -> int | None:
    """``text`` as a whole number ≥ 0 written in ASCII digits, at most ``ceiling``; ``None``
    for anything else (a sign, spaces, ``_``, other scripts' digits, which Python's ``int``
    reads but Go's ``strconv`` and a person do not).

    Numbers above ``ceiling`` are ``ceiling``: 5,000 digits is a large number, not Python's
    4,300-digit ``ValueError`` (a 500 where ``int`` was not guarded). Callers that refuse
    large numbers pass one more than their maximum and compare.
    """
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(ceiling)):
        return ceiling
    return min(int(digits), ceiling)


def parse_uuid(text: str) -> uuid.UUID:
    """A UUID in any spelling Go's ``uuid.Parse`` (google/uuid) accepts; ``ValueError`` otherwise.

    Coder parses ids with that function, so these are exactly the texts it accepts, measured
    in UTF-8 bytes as Go measures strings, hex digits in either case:

    * 36 bytes, ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` (canonical);
    * 45 bytes, ``urn:uuid:`` (any case) and the canonical form;
    * 38 bytes, one byte, the canonical form, one byte: ``{…}`` (Go checks neither brace);
    * 32 bytes, the hex digits alone.

    Nothing is trimmed. Returns the ``uuid.UUID``; raises ``ValueError`` with Go's reason.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid UUID {text!r}")
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) == 32:
        digits = raw
    else:
        if len(raw) == 36 + 9:
            if raw[:9].lower() != _URN_PREFIX:
                raise ValueError(f"invalid urn prefix: {raw[:9]!r}")
            raw = raw[9:]
        elif len(raw) == 36 + 2:
            raw = raw[1:]
        elif len(raw) != 36:
            raise ValueError(f"invalid UUID length: {len(raw)}")
        if any(raw[at] != ord("-") for at in _DASHES):
            raise ValueError("invalid UUID format")
        digits = b"".join(raw[at : at + 2] for at in _HEX_PAIRS)
    if not _HEX_DIGITS.issuperset(digits):
        raise ValueError("invalid UUID format")
    return uuid.UUID(digits.decode("ascii"))


def parse_rfc3339(text: str) -> dt.datetime:
    """An RFC 3339 time with ``Z`` or an offset, in UTC; ``ValueError`` with a reason otherwise.

    Digits are ASCII digits (RFC 3339's ``DIGIT`` is RFC 5234's, %x30-39).
    """
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'parsing time "{text}" as "{RFC3339_LAYOUT}": not an RFC 3339 time')
    offset = match[8]
    # The shape is RFC 3339's: the C parser reads it to the same value (sub-microsecond digits
    # dropped) 10x faster, but takes an offset's minutes up to 99; whatever it does not read
    # is read field by field, which says what is wrong.
    if len(offset) == 1 or (offset[1:3] <= "23" and offset[4:6] <= "59"):
        try:
            return dt.datetime.fromisoformat(text.upper()).astimezone(dt.UTC)
        except (ValueError, OverflowError):
            pass
    return _read_rfc3339(text, match)


def _read_rfc3339(text: str, match: re.Match) -> dt.datetime:
    """``parse_rfc3339`` field by field: the time, or the reason it is none."""
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
    # ``isoformat`` writes the four-digit year, and the fraction only when there is one
    # (six digits); it is several times faster than ``strftime``, and every row of a feed,
    # export or stream shows two times.
    text = value.isoformat()[:-6]  # without the "+00:00"
    if value.microsecond:
        text = text.rstrip("0")
    return text + "Z"


# A reported address may carry a port ("203.0.113.5:22", "[::1]:80"), brackets ("[::1]") or
# a zone ("fe80::1%eth0"): the address is what is stored.
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]*)\](?::(?P<port>[0-9]{1,5}))?$")
_IPV4_WITH_PORT = re.compile(r"^(?P<host>[^:]*):(?P<port>[0-9]{1,5})$")
MAX_PORT = 65535
# The longest text that can hold an address: IPv6 with an IPv4 tail (45), a zone, brackets
# and a port. Longer text is refused before any pattern reads it.
MAX_ADDRESS_TEXT = 128


def normalize_ip(text: str) -> str | None:
    """The address a reporter means, as stored; ``None`` when empty; ``ValueError`` otherwise.

    ``localhost`` is 127.0.0.1. A port, brackets and a zone (which names an interface of the
    reporter's host, and which PostgreSQL's ``inet`` refuses) are dropped; an IPv4-mapped
    IPv6 address (``::ffff:203.0.113.5``) is its IPv4 address, as the client had it.
    """
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAX_ADDRESS_TEXT:
        raise ValueError(f"too long for an address: {len(text)} characters")
    host = _BRACKETED.match(text) or _IPV4_WITH_PORT.match(text)
    if host:
        if int(host["port"] or 0) > MAX_PORT:
            raise ValueError(f"port out of range: {text!r}")
        text = host["host"]
    text = text.partition("%")[0]
    if text.lower() == "localhost":
        return "127.0.0.1"
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


# --- the search language's own value forms (ours, beyond Coder's contract) ---------------

# ASCII digits only, as above (``\d`` is every script's digits to Python).
_RELATIVE = re.compile(r"^-([0-9]{1,9})([smhdw])\Z")
_LENGTH = re.compile(r"^([0-9]{1,9})([smhdw])\Z")
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_COMPARISON = re.compile(r"^(<=|>=|<|>)")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# The longest length a search compares: SQLite holds a length as 64-bit microseconds
# (292,000 years); 10,000 years is past any session and far inside that.
MAX_LENGTH = dt.timedelta(days=3_652_425)


def parse_length(text: str) -> dt.timedelta:
    """A length of time as a count and a unit: ``90s``, ``15m``, ``8h``, ``7d``, ``2w``,
    at most ``MAX_LENGTH`` (10,000 years).

    ``ValueError`` otherwise.
    """
    match = _LENGTH.match(text.strip().lower()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a length such as 90s, 15m, 8h, 7d or 2w")
    seconds = int(match[1]) * UNIT_SECONDS[match[2]]
    if seconds > MAX_LENGTH.total_seconds():
        raise ValueError(f"{text!r} is longer than 10,000 years")
    return dt.timedelta(seconds=seconds)


EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def earlier(moment: dt.datetime, length: dt.timedelta) -> dt.datetime:
    """``moment - length``, or ``EARLIEST`` (0001-01-01T00:00Z, the first instant Python
    holds) where that would come before it. A search's bounds are made this way from a time
    or a length ``q`` gave (``active_after:0001-01-01``, ``duration:>200000w``): no row is
    older than year 1, so the bound keeps its meaning where the subtraction would raise
    ``OverflowError``."""
    try:
        return moment - length
    except OverflowError:
        return EARLIEST


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
