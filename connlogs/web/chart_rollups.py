"""The chart's counts from the hourly rollups, for the searches the rollups can answer.

A search is answered from the rollups (``storage.rollups``) when every term of its ``q`` is
one the rollup holds: ``organization``, ``type``, ``status``, ``result`` (and the time
bounds, which make the window); the caller's scope is a set of organizations, which the
rollup holds too. Anything else (a person, a workspace, an address, free text...) is
counted from the rows, as before. So is a window drawn per minute, or in a zone whose offset
is not a whole number of hours somewhere in the window (its buckets would split a rollup
hour).

The rollup covers the window's whole hours; the part of an hour at either end of the window
is counted from the rows (at most two hours of them), so the chart is exact either way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from connlogs import roles
from connlogs.storage import rollups
from connlogs.storage.cells import Cell

# The q keys the rollup answers; the time bounds only shape the window.
ANSWERED = frozenset({"organization", "type", "status", "result"})
WINDOW_KEYS = frozenset({"connected_after", "connected_before"})
RESULT_VALUES = frozenset({"ok", "failed"})
# status:stale depends on the clock of the request, which the rollup does not hold.
STATUS_VALUES = frozenset({"ongoing", "completed"})
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class RollupSearch:
    """A search in the rollup's terms: its organizations (None: all) and its cells."""

    organization_ids: tuple[uuid.UUID, ...] | None
    cells: tuple[Cell, ...]

    @classmethod
    def for_search(cls, found) -> RollupSearch | None:
        """The rollup form of a ``LogSearch`` (valid), or None when a term of its ``q`` is
        not one the rollup holds."""
        if not found.is_valid:
            return None
        cleaned = found.filterset.form.cleaned_data
        organizations = roles.readable_organization_ids(found.request.user)
        organizations = None if organizations is None else set(organizations)
        types = results = statuses = None
        # Each value is a tuple: the OR list of the key (``type:ssh,vscode``).
        for key in found.terms:
            value = cleaned.get(key)
            if key in WINDOW_KEYS:
                continue
            if key not in ANSWERED or not value:
                return None
            if key == "organization":
                organizations = set(value) if organizations is None else organizations & set(value)
            elif key == "type":
                types = set(value)
            elif key == "status" and set(value) <= STATUS_VALUES:
                statuses = set(value)
            elif key == "result" and set(value) <= RESULT_VALUES:
                results = set(value)
            else:
                return None
        ids = None if organizations is None else tuple(sorted(organizations))
        if statuses is None:
            return cls(ids, tuple(rollups.cells_matching(types, results, None)))
        cells = []
        for status in sorted(statuses):
            cells += rollups.cells_matching(types, results, status == "ongoing")
        return cls(ids, tuple(cells))


def whole_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """``(first, last)``: the whole UTC hours ``first`` <= h < ``last`` inside the window
    ``start`` .. ``end`` (end included); None when there are none."""
    start_utc = start.astimezone(dt.UTC)
    first = start_utc.replace(minute=0, second=0, microsecond=0)
    if first < start_utc:
        first += HOUR
    last = end.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    if first >= last:
        return None
    return first, last


def aligned(bucket_starts: list[dt.datetime]) -> bool:
    """Every bucket starts on a whole UTC hour (the zone's offset is whole hours there)."""
    return all(moment.utcoffset() % HOUR == dt.timedelta(0) for moment in bucket_starts)
