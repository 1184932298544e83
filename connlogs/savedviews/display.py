"""The display choices a saved view may carry: page size, time zone and the list's columns.

The names are the list page's (``connlogs.web.links.PAGE_SIZES``, its table's columns), so a
page that opens a view can apply them as they are.
"""

from __future__ import annotations

import functools
import zoneinfo

from connlogs.web.links import PAGE_SIZES

# The list page's columns, in its order: ``columns`` lists those a view shows.
COLUMNS: tuple[str, ...] = ("time", "type", "who", "workspace", "ip", "state", "result", "reason")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def page_size_error(value: int | None) -> str:
    if value is None or value in PAGE_SIZES:
        return ""
    return "Must be one of " + ", ".join(map(str, PAGE_SIZES)) + "."


def time_zone_error(value: str) -> str:
    if not value or value in _zones():
        return ""
    return "Must be an IANA time zone name, such as Europe/Paris or UTC."


def columns_error(value: list[str] | None) -> str:
    if value is None:
        return ""
    unknown = [name for name in value if name not in COLUMNS]
    if unknown:
        return f"Unknown column {unknown[0]!r}: columns are " + ", ".join(COLUMNS) + "."
    if not value:
        return "Show at least one column (or null for the page's own)."
    if len(set(value)) != len(value):
        return "Name each column once."
    return ""
