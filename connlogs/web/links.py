"""Addresses of the list page: a search, a page size and a page as a URL, and narrowed searches.

Every link that narrows the list (chart bars, legend entries, "show only this", the menus'
redirect) is written here, from ``q`` text and terms, so they all quote and order terms the
same way (``search.build``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from connlogs import search, values
from connlogs.search.filterset import ConnectionLogFilterSet

PAGE_SIZES: tuple[int, ...] = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
TIME_KEYS = ("connected_after", "connected_before")


def page_size(text: str | None) -> int:
    """The ``per_page`` parameter as one of ``PAGE_SIZES`` (the default for anything else)."""
    try:
        size = int(text or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def list_url(q: str = "", size: int = DEFAULT_PAGE_SIZE, **extra) -> str:
    """The list page's address for a search, a page size and paging parameters."""
    params: dict[str, str] = {}
    if q:
        params["q"] = q
    if size != DEFAULT_PAGE_SIZE:
        params["per_page"] = str(size)
    params.update({key: str(value) for key, value in extra.items() if value})
    base = reverse("connectionlog-list")
    return f"{base}?{urlencode(params)}" if params else base


def export_url(q: str, fmt: str, *, bom: bool = False) -> str:
    """The list's download button: the export of the same ``q`` in ``fmt`` (``bom``: with a
    byte-order mark, the "CSV for Excel" button)."""
    params = {"q": q, "format": fmt} if q else {"format": fmt}
    if bom:
        params["bom"] = "1"
    return f"{reverse('connectionlog-export')}?{urlencode(params)}"


def normalise_time_terms(terms: dict[str, str]) -> dict[str, str]:
    """``q`` is lower-cased by the parser; write valid times back in their usual case."""
    result = dict(terms)
    for key in TIME_KEYS:
        if result.get(key):
            try:
                result[key] = values.format_time(values.parse_rfc3339(result[key]))
            except ValueError:
                pass
    return result


def replace_terms(terms: dict[str, str], changes: dict[str, str]) -> str:
    """``q`` text of ``terms`` with ``changes`` applied (``""`` removes a key)."""
    result = normalise_time_terms(terms)
    for key, value in changes.items():
        result.pop(key, None)
        if value:
            result[key] = value
    return search.build(result)


def with_terms(q: str, **changes: str) -> str:
    """``q`` with some terms set (``""`` removes one), or ``q`` unchanged if it does not parse."""
    parsed = search.parse(q, ConnectionLogFilterSet.base_filters)
    if parsed.errors:
        return q
    return replace_terms(parsed.terms, changes)


@dataclass(frozen=True)
class ListLinks:
    """The links of one list page: its ``q`` and page size, bound once."""

    q: str
    size: int = DEFAULT_PAGE_SIZE

    def page(self, **extra) -> str:
        """This search at another page (``page=``, ``after=``, ``before=``)."""
        return list_url(self.q, self.size, **extra)

    def narrowed(self, **terms: str) -> str:
        """This search with some terms set or removed."""
        return list_url(with_terms(self.q, **terms), self.size)

    def sized(self, size: int) -> str:
        return list_url(self.q, size)

    def export(self, fmt: str, *, bom: bool = False) -> str:
        return export_url(self.q, fmt, bom=bom)
