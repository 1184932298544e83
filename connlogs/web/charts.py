"""Connections over time for the current search, drawn on the server as SVG.

The window is the search's own time range, or the last 30 days, and never more than 90 days.
When the search is one the hourly rollups answer (``chart_rollups``), its whole hours are
summed from them (hours x organizations rows, whatever the number of log rows) and only the
part-hours at the window's ends are counted from the rows; otherwise one aggregate query
(``Trunc`` + ``Count`` grouped by bucket and type) counts the rows in the database. Either
way the counts are cached for a few seconds under the exact SQL (which holds the caller's
scope): paging through a search pays for its chart once, and an open window ends on a whole
minute so that the SQL stays the same for that minute.

The template draws the geometry computed here, so every text in the picture passes through
Django's autoescaping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone

from connlogs import timebounds
from connlogs.models import ConnectionType
from connlogs.storage import ddl, rollups
from connlogs.web.chart_rollups import RollupSearch, aligned, whole_hours
from connlogs.web.tables import type_label

DEFAULT_WINDOW = dt.timedelta(days=30)
MAX_WINDOW = dt.timedelta(days=90)
CACHE_SECONDS = 30

WIDTH = 1200
HEIGHT = 190
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26
TYPE_ORDER: tuple[str, ...] = tuple(ConnectionType.values)


@dataclass(frozen=True)
class Unit:
    kind: str  # the Trunc kind
    noun: str
    step: dt.timedelta


MINUTE = Unit("minute", "minute", dt.timedelta(minutes=1))
HOUR = Unit("hour", "hour", dt.timedelta(hours=1))
DAY = Unit("day", "day", dt.timedelta(days=1))


def unit_for(span: dt.timedelta) -> Unit:
    """Bars per minute up to 3 hours, per hour up to 3 days, per day beyond."""
    if span <= dt.timedelta(hours=3):
        return MINUTE
    if span <= dt.timedelta(days=3):
        return HOUR
    return DAY


@dataclass
class Segment:
    type: str
    count: int
    y: float
    height: float


@dataclass
class Bar:
    start: dt.datetime
    end: dt.datetime
    total: int
    x: float
    width: float
    slot_x: float
    slot_width: float
    segments: list[Segment] = field(default_factory=list)
    title: str = ""
    href: str = ""


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class LegendItem:
    type: str
    label: str
    count: int


@dataclass
class Chart:
    start: dt.datetime
    end: dt.datetime
    unit: Unit
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[LegendItem]
    total: int
    capped: bool
    range_text: str = ""  # the window, in the zone the buckets are drawn in
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    plot_height: int = HEIGHT - TOP - BOTTOM

    @property
    def title(self) -> str:
        return f"Connections per {self.unit.noun}"


def chart_window(
    after: dt.datetime | None, before: dt.datetime | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime, bool]:
    """The time range drawn: the search's range, else the last 30 days; at most 90 days.

    An open end is the next whole minute (nothing is recorded in the future). A window
    reaching the first or last days of the range stops there (``timebounds.shift``).
    """
    end = before or (now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1))
    start = after or timebounds.shift(end, -DEFAULT_WINDOW)
    capped = end - start > MAX_WINDOW
    if capped:
        start = timebounds.shift(end, -MAX_WINDOW)
    return start, end, capped


def chart_zone(start: dt.datetime, end: dt.datetime) -> dt.tzinfo:
    """The display zone, or UTC for a window within two days of either end of the range:
    there the display zone's calendar may not hold a bucket (year 1 in New York), and the
    database could not name it."""
    if timebounds.inner(start) != start or timebounds.inner(end) != end:
        return dt.UTC
    return timezone.get_current_timezone()


def _floor(moment: dt.datetime, unit: Unit) -> dt.datetime:
    local = timebounds.localtime(moment)
    if unit is DAY:
        return local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if unit is HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(second=0, microsecond=0)


def _next(moment: dt.datetime, unit: Unit) -> dt.datetime:
    """The start of the bucket after the one starting at ``moment`` (the end of the range
    after the last one)."""
    if unit is DAY:
        # Calendar days in the display zone: 23 or 25 hours around a DST change.
        midnight = timebounds.localtime(moment).replace(
            hour=0, minute=0, second=0, microsecond=0, fold=0
        )
        return timebounds.shift(midnight, DAY.step)
    return timebounds.localtime(timebounds.shift(moment, unit.step))


def bucket_starts(start: dt.datetime, end: dt.datetime, unit: Unit) -> list[dt.datetime]:
    starts = []
    moment = _floor(start, unit)
    while moment <= end:
        starts.append(moment)
        following = _next(moment, unit)
        if following <= moment:
            break  # the end of the range: there is no next bucket
        moment = following
    return starts


def count_by_bucket(
    queryset: QuerySet,
    start: dt.datetime,
    end: dt.datetime,
    unit: Unit,
    rollup: RollupSearch | None = None,
) -> list[tuple[dt.datetime, str, int]]:
    """``(bucket, type, count)`` for the rows of ``queryset`` in the window (a bucket and
    type may come twice: add them up). From the rollups when ``rollup`` (the same search in
    the rollup's terms) is given and the buckets fit whole hours, else from the rows; each
    query cached for ``CACHE_SECONDS``."""
    tzinfo = timezone.get_current_timezone()
    if rollup is not None and not ddl.keeps_derived_tables(connections[queryset.db]):
        rollup = None  # a log being converted online: the rollup is not complete yet
    hours = whole_hours(start, end) if rollup is not None and unit is not MINUTE else None
    if hours is None or not aligned(bucket_starts(start, end, unit)):
        return _cached(
            _row_counts(queryset, Q(connect_time__gte=start, connect_time__lte=end), unit)
        )
    if not rollup.cells:
        return []  # terms no row can match together (status:ongoing type:tunnel)
    first, last = hours
    edges = Q(connect_time__gte=start, connect_time__lt=first) | Q(
        connect_time__gte=last, connect_time__lte=end
    )
    summed = rollups.counts_query(
        rollup.cells, rollup.organization_ids, first, last, unit.kind, tzinfo, using=queryset.db
    )
    # One query: the part-hours at the ends counted from the rows, in the rollup's shape.
    types = dict.fromkeys(cell.type for cell in rollup.cells)
    counted = (
        queryset.filter(edges)
        .annotate(bucket=Trunc("connect_time", unit.kind, tzinfo=tzinfo))
        .values("bucket")
        .annotate(**{f"n_{kind}": Count("pk", filter=Q(type=kind)) for kind in types})
        .order_by()
    )
    return _cached(counted.union(summed, all=True), rollups.triples)


def _row_counts(queryset: QuerySet, window: Q, unit: Unit) -> QuerySet:
    return (
        queryset.filter(window)
        .annotate(bucket=Trunc("connect_time", unit.kind, tzinfo=timezone.get_current_timezone()))
        .values("bucket", "type")
        .annotate(count=Count("*"))
        .order_by()
    )


def _by_type(row: dict) -> list[tuple[dt.datetime, str, int]]:
    return [(row["bucket"], row["type"], row["count"])]


def _cached(
    rows: QuerySet, read: Callable[[dict], list] = _by_type
) -> list[tuple[dt.datetime, str, int]]:
    """``(bucket, type, count)`` of an aggregate query (its rows as ``read`` reads them),
    cached under its SQL."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return []
    key = "chart:" + hashlib.sha256(repr((rows.db, sql, params)).encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = [triple for row in rows for triple in read(row)]
        cache.set(key, found, CACHE_SECONDS)
    return found


def nice_ceiling(value: int) -> int:
    """The next 1, 2 or 5 times a power of ten, for a readable top of the axis."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _tick_label(moment: dt.datetime, unit: Unit, previous: dt.datetime | None) -> str:
    if unit is DAY:
        return timebounds.format_local(moment, "j M")
    if previous is None or timebounds.localtime(previous).date() != moment.date():
        return timebounds.format_local(moment, "j M H:i")
    return timebounds.format_local(moment, "H:i")


def _range_label(start: dt.datetime, end: dt.datetime, unit: Unit) -> str:
    if unit is DAY:
        return timebounds.format_local(start, "D j M Y")
    return f"{timebounds.format_local(start, 'j M H:i')}–{timebounds.format_local(end, 'H:i T')}"


def build_chart(
    queryset: QuerySet,
    *,
    after: dt.datetime | None,
    before: dt.datetime | None,
    link: Callable[[dt.datetime, dt.datetime], str],
    now: dt.datetime | None = None,
    rollup: RollupSearch | None = None,
) -> Chart | None:
    """The chart of ``queryset`` (already scoped and filtered); ``None`` for an empty window.

    ``link(start, end)`` gives the address of the list narrowed to one bar; ``rollup`` is
    the same search in the rollup's terms when it has them (``RollupSearch.for_search``).
    """
    now = now or timezone.now()
    start, end, capped = chart_window(after, before, now)
    if start >= end:
        return None
    with timezone.override(chart_zone(start, end)):
        return _draw(queryset, start, end, capped, link, rollup)


def _draw(
    queryset: QuerySet,
    start: dt.datetime,
    end: dt.datetime,
    capped: bool,
    link: Callable[[dt.datetime, dt.datetime], str],
    rollup: RollupSearch | None = None,
) -> Chart:
    """The chart of the window ``start`` .. ``end``, in the active zone."""
    unit = unit_for(end - start)
    starts = bucket_starts(start, end, unit)
    index = {moment: position for position, moment in enumerate(starts)}
    counts: list[dict[str, int]] = [{} for _ in starts]
    for bucket, kind, count in count_by_bucket(queryset, start, end, unit, rollup):
        position = index.get(bucket)
        if position is None:
            # A bucket the database named differently (a repeated DST hour): the slot it
            # falls in.
            position = max((i for i, s in enumerate(starts) if s <= bucket), default=0)
        counts[position][kind] = counts[position].get(kind, 0) + count

    totals = [sum(bucket.values()) for bucket in counts]
    top = nice_ceiling(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(starts)
    gap = min(2.0, slot * 0.2)
    # Few buckets make slabs, not bars: keep a bar at most 64 wide, centred in its slot.
    bar_width = max(min(slot - gap, 64.0), 0.5)

    bars = []
    for position, moment in enumerate(starts):
        bucket_end = (
            starts[position + 1] if position + 1 < len(starts) else _next(moment, unit)
        ) - dt.timedelta(microseconds=1)
        x = LEFT + position * slot
        bar = Bar(
            start=moment,
            end=bucket_end,
            total=totals[position],
            x=round(x + (slot - bar_width) / 2, 2),
            width=round(bar_width, 2),
            slot_x=round(x, 2),
            slot_width=round(slot, 2),
        )
        baseline = float(HEIGHT - BOTTOM)
        for kind in TYPE_ORDER:
            count = counts[position].get(kind, 0)
            if not count:
                continue
            height = count / top * plot_height
            baseline -= height
            bar.segments.append(Segment(kind, count, round(baseline, 2), round(height, 2)))
        parts = ", ".join(
            f"{type_label(segment.type)} {segment.count:,}" for segment in bar.segments
        )
        noun = "connection" if bar.total == 1 else "connections"
        bar.title = f"{_range_label(moment, bucket_end, unit)}: {bar.total:,} {noun}" + (
            f" ({parts})" if parts else ""
        )
        if bar.total:
            # The first and last buckets may reach past the window: the bar counts only
            # what is inside it, and so does the search its link opens.
            bar.href = link(max(moment, start), min(bucket_end, end))
        bars.append(bar)

    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - fraction * plot_height, 2), f"{round(top * fraction):,}")
        for fraction in (0, 0.5, 1)
        if fraction == 0 or top * fraction == int(top * fraction)
    ]
    every = max(1, math.ceil(len(starts) / 7))
    x_ticks = []
    previous = None
    for position in range(0, len(starts), every):
        x_ticks.append(
            Tick(
                round(LEFT + position * slot + slot / 2, 2),
                _tick_label(starts[position], unit, previous),
            )
        )
        previous = starts[position]

    per_type: dict[str, int] = {}
    for bucket in counts:
        for kind, count in bucket.items():
            per_type[kind] = per_type.get(kind, 0) + count
    legend = [
        LegendItem(kind, type_label(kind), per_type[kind])
        for kind in TYPE_ORDER
        if kind in per_type
    ]
    return Chart(
        start=start,
        end=end,
        unit=unit,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=legend,
        total=sum(totals),
        capped=capped,
        range_text=(
            f"{timebounds.format_local(start, 'j M Y, H:i')} – "
            f"{timebounds.format_local(end, 'j M Y, H:i T')}"
        ),
    )
