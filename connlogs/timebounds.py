"""Date arithmetic and time-zone conversion that saturate at the ends of ``datetime``'s range.

A connection log may hold any time Python can hold, from ``0001-01-01T00:00:00Z`` (Go's zero
time, which agents send for "unknown") to ``9999-12-31T23:59:59.999999Z``. Near those ends,
adding 30 minutes, moving to a zone 14 hours away or stepping to the next calendar day leaves
the range and raises ``OverflowError``. Every page, chart, export and admin view does such
arithmetic through this module, which never raises:

* ``shift(moment, delta)``: ``moment + delta``, stopping at ``EARLIEST`` / ``LATEST``;
* ``to_utc(moment)``: the moment in UTC, stopping at the ends;
* ``localtime(moment)``: the moment in the display zone, or in UTC when that zone's wall
  clock cannot show it (year 1 in New York is 31 December of year 0): the time is still true,
  and its label (``abbreviation``) says UTC;
* ``format_local(moment, layout)``: Django's date layout (``"j M Y, H:i:s T"``) of
  ``localtime(moment)``, where ``T`` is always the zone's abbreviation, also in the repeated
  hour of a daylight-saving change (Django's ``T`` is empty there).
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import dateformat, timezone

EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
# Wider than any UTC offset (the widest are +14:00 and -12:00): a moment further than this
# from the ends has a wall-clock time, and a next calendar day, in every zone.
MARGIN = dt.timedelta(days=2)


def shift(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``moment + delta`` (wall-clock arithmetic, as ``+``), or ``EARLIEST``/``LATEST`` (UTC)
    when the sum leaves datetime's range."""
    try:
        return moment + delta
    except OverflowError:
        return LATEST if delta > dt.timedelta(0) else EARLIEST


def to_utc(moment: dt.datetime) -> dt.datetime:
    """An aware ``moment`` in UTC; a local time that is before year 1 or after year 9999 in
    UTC (``9999-12-31T23:00`` at -12:00) is ``EARLIEST``/``LATEST``."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        return LATEST if moment.year > 1 else EARLIEST


def localtime(moment: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """``moment`` in ``zone`` (default: the active zone), or in UTC if that zone's wall clock
    is outside years 1-9999 for it. Never raises."""
    zone = zone or timezone.get_current_timezone()
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return to_utc(moment)


def wall_clock(moment: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """The naive wall-clock time of ``moment`` in ``zone`` (default: the active zone), or
    that clock's first or last microsecond when the zone's calendar cannot hold it."""
    zone = zone or timezone.get_current_timezone()
    try:
        return moment.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        return dt.datetime.max if moment.year > 1 else dt.datetime.min


def clamp(moment: dt.datetime, low: dt.datetime = EARLIEST, high: dt.datetime = LATEST):
    """``moment`` kept within ``low`` .. ``high``."""
    return max(low, min(moment, high))


def inner(moment: dt.datetime) -> dt.datetime:
    """``moment`` kept ``MARGIN`` away from both ends, where every zone has a wall clock and
    a next day (the chart draws its buckets there)."""
    return clamp(moment, EARLIEST + MARGIN, LATEST - MARGIN)


def abbreviation(local: dt.datetime) -> str:
    """The zone abbreviation of an aware local time (``EST``/``EDT`` by its ``fold``), or
    its offset (``+0530``) when the zone has no abbreviation."""
    name = local.tzname()
    if name:
        return name
    offset = local.strftime("%z")
    return offset or "UTC"


# A ``T`` of a Django date layout that is not escaped with a backslash.
_ZONE_LETTER = re.compile(r"(?<!\\)T")


def format_local(moment: dt.datetime | None, layout: str) -> str:
    """``moment`` in the display zone, in Django's date ``layout``; ``""`` for ``None``.

    ``T`` is written as ``abbreviation`` (never empty), years have four digits.
    """
    if moment is None:
        return ""
    local = localtime(moment)
    zone = abbreviation(local)
    parts = _ZONE_LETTER.split(layout)
    return zone.join(dateformat.format(local, part) if part else "" for part in parts)
