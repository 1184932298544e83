"""Connection-log ids: version-7 UUIDs (RFC 9562 section 5.7) whose time is the row's own
``connect_time``.

A v7 UUID carries a 48-bit Unix time in milliseconds in its first bits, then random bits.
connlogs fills that time from the row's ``connect_time`` (RFC 9562 section 6.1 lets an
implementation take the timestamp from another source than the clock), so

* ids sort (almost) as rows arrive, and every index on ``id`` grows at its right edge
  instead of on a random page;
* an id names the millisecond its row connected in, hence the one monthly partition that
  holds it: a lookup by id is one index probe (``time_bounds``), not one per partition.

Times before 1970 (the calendar's first years are valid connection times) have no v7 form:
they are written with time 0, and ``time_bounds`` of such an id says "before 1970-01-01
00:00:00.001". On PostgreSQL a CHECK constraint (``storage.ddl``) refuses a v7 id whose time
is not its row's, so the bounds are a fact of the table, not a hope. Ids of other versions
(the random v4 ids written before this scheme) carry no time: they bound nothing.

The bits are made by ``uuid-utils`` (a maintained Rust implementation of RFC 9562), not here.
"""

from __future__ import annotations

import datetime as dt
import uuid

from uuid_utils import compat

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def millis(moment: dt.datetime) -> int:
    """``moment`` as whole milliseconds since 1970 (rounded down; 0 for earlier times)."""
    delta = moment - EPOCH
    if delta.days < 0:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def new_id(connect_time: dt.datetime) -> uuid.UUID:
    """A new random version-7 id for a row that connected at ``connect_time`` (aware)."""
    delta = connect_time - EPOCH
    if delta.days < 0:
        return compat.uuid7(nanoseconds=0)
    nanoseconds = ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
    return compat.uuid7(nanoseconds=nanoseconds)


def id_millis(value: uuid.UUID) -> int | None:
    """The millisecond a v7 id was made for; None for ids of other versions."""
    if value.version != 7:
        return None
    return value.int >> 80


def time_bounds(value: uuid.UUID) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """``(lower, upper)``: the row with id ``value`` connected at ``lower <= t < upper``
    (``lower`` None: any time before ``upper``, for times before 1970; ``upper`` None: the
    last millisecond of year 9999); None when the id says nothing (not v7, or past 9999)."""
    ms = id_millis(value)
    if ms is None:
        return None
    return _millisecond_bounds(ms, ms)


def _millisecond_bounds(first: int, last: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    # ``time_bounds`` of the ids made in the milliseconds ``first`` to ``last``.
    if last == 0:
        return None, EPOCH + _MILLISECOND
    try:
        upper = EPOCH + dt.timedelta(milliseconds=last)
    except OverflowError:  # past year 9999: no row has it, and no bound can be written
        return None
    try:
        upper += _MILLISECOND
    except OverflowError:
        upper = None
    lower = None if first == 0 else EPOCH + dt.timedelta(milliseconds=first)
    return lower, upper


# The version (7) and variant (RFC 9562: binary 10) bits of a v7 id, as in ``UUID.int``.
_VERSION_VARIANT = (0xF << 76) | (0x3 << 62)
_V7 = (7 << 76) | (0x2 << 62)


def span(values) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(lower, upper)``: the rows with the ids ``values`` connected at ``lower <= t <
    upper`` (``time_bounds`` of each, widened to all); either is None when some id bounds
    nothing on that side (both when one says nothing at all). For a batch's thousands of
    ids: their bits are compared directly, without ``UUID.version``."""
    first = last = None
    for value in values:
        number = value.int if isinstance(value, uuid.UUID) else None
        if number is None or number & _VERSION_VARIANT != _V7:
            return None, None
        ms = number >> 80
        if first is None:
            first = last = ms
        elif ms < first:
            first = ms
        elif ms > last:
            last = ms
    if first is None:
        return None, None
    bounds = _millisecond_bounds(first, last)
    return (None, None) if bounds is None else bounds
