"""Addresses of the list page: a search, a page size and a page as a URL, and narrowed searches.

Every link that narrows the list (chart bars, legend entries, "show only this", the values of
the table and the detail page, the chips of the current search, the menus' redirect) is
written here, from ``q`` text and terms, so they all quote and order terms the same way
(``search.build``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qs, urlencode, urlsplit

from django.urls import reverse

from connlogs import search, values
from connlogs.search.filterset import ConnectionLogFilterSet

PAGE_SIZES: tuple[int, ...] = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
TIME_KEYS = ("connected_after", "connected_before", "active_after", "active_before")
NEGATION = "-"


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


def parsed_terms(q: str) -> dict[str, str] | None:
    """The terms of ``q``, or ``None`` when it does not parse (no term can be written into it)."""
    parsed = search.parse(q, ConnectionLogFilterSet.base_filters)
    return None if parsed.errors else parsed.terms


def with_terms(q: str, **changes: str) -> str:
    """``q`` with some terms set (``""`` removes one), or ``q`` unchanged if it does not parse."""
    terms = parsed_terms(q)
    return q if terms is None else replace_terms(terms, changes)


def including(terms: dict[str, str], key: str, value: str) -> dict[str, str]:
    """The changes that make ``terms`` keep only rows with ``key:value``: the term set, and
    the same value taken out of its exclusion (``-key:value``, ``-key:a,value``), since
    both cannot hold."""
    return {**_taken_out(terms, NEGATION + key, value), key: value}


def excluding(terms: dict[str, str], key: str, value: str) -> dict[str, str]:
    """The changes that make ``terms`` leave out rows with ``key:value`` (``-key:value``, or
    added to the values it already leaves out), taking ``value`` out of ``key:`` itself if
    the search asked for it."""
    negation = NEGATION + key
    listed = [item for item in terms.get(negation, "").split(",") if item]
    left_out = listed if value.lower() in listed else [*listed, value]
    return {**_taken_out(terms, key, value), negation: ",".join(left_out)}


def _taken_out(terms: dict[str, str], key: str, value: str) -> dict[str, str]:
    """``{key: what is left}`` when ``terms[key]`` lists ``value`` (compared as ``q`` is,
    lower-cased; ``""`` when nothing is left), else no change."""
    listed = [item for item in terms.get(key, "").split(",") if item]
    left = [item for item in listed if item != value.lower()]
    return {key: ",".join(left)} if len(left) < len(listed) else {}


def q_of_url(url: str) -> str:
    """The ``q`` of a list page's address (``""`` when it has none): the first, as read."""
    found = parse_qs(urlsplit(url).query).get("q")
    return found[0] if found else ""


@dataclass(frozen=True)
class Chip:
    """One term of the current search as the page shows it above the table, with the
    address of the same search without it."""

    key: str
    value: str
    remove_url: str

    @property
    def text(self) -> str:
        if self.key == search.FREE_TEXT_KEY:
            return self.value
        return search.build({self.key: self.value})


def _round_trips(value: str) -> bool:
    """A value that reads back as itself in ``q``: a comma would make it a list, and a
    double quote cannot be written (``search.build``)."""
    return bool(value) and "," not in value and '"' not in value


def row_terms(log) -> dict[str, tuple[str, str]]:
    """What a row shown on a page (a ``tables.LogRow``) offers to filter by, as
    ``{part: (key, value)}`` for its owner, workspace, agent, IP, user (or its absence),
    type and result: the term that matches the row (and others alike). Values that cannot
    be written into ``q`` unchanged are left out."""
    row = log.row
    owner = row.workspace_owner.username
    found = {
        "owner": ("workspace_owner", owner),
        "workspace": ("workspace", f"{owner}/{row.workspace_name}"),
        "agent": ("agent", row.agent_name),
        "type": ("type", row.type),
        "ip": ("ip", str(row.ip) if row.ip else ""),
        "user": ("username", row.user.username if log.is_web and row.user_id else ""),
        "unauthenticated": ("authenticated", "no" if log.is_web and not row.user_id else ""),
        "result": ("result", log.result),
    }
    return {part: term for part, term in found.items() if _round_trips(term[1])}


@dataclass(frozen=True)
class ListLinks:
    """The links of one list page: its ``q`` and page size, bound once."""

    q: str
    size: int = DEFAULT_PAGE_SIZE

    def page(self, **extra) -> str:
        """This search at another page (``page=``, ``after=``, ``before=``)."""
        return list_url(self.q, self.size, **extra)

    @cached_property
    def terms(self) -> dict[str, str] | None:
        """The terms of ``q`` (parsed once per page), ``None`` when it does not parse."""
        return parsed_terms(self.q)

    def narrowed(self, **terms: str) -> str:
        """This search with some terms set or removed."""
        if self.terms is None:
            return list_url(self.q, self.size)
        return list_url(replace_terms(self.terms, terms), self.size)

    def adding(self, key: str, value: str) -> str:
        """This search keeping only rows with ``key:value`` (a value of the table clicked)."""
        return self.narrowed(**including(self.terms or {}, key, value))

    def leaving_out(self, key: str, value: str) -> str:
        """This search leaving out rows with ``key:value`` (the detail page's "exclude")."""
        return self.narrowed(**excluding(self.terms or {}, key, value))

    def row_links(self, log) -> dict[str, str]:
        """``{part: address}`` of this search narrowed to each value of a row (``row_terms``)."""
        return {part: self.adding(*term) for part, term in row_terms(log).items()}

    def row_exclusions(self, log) -> dict[str, str]:
        """``{part: address}`` of this search leaving out each value of a row."""
        return {part: self.leaving_out(*term) for part, term in row_terms(log).items()}

    def chips(self) -> list[Chip]:
        """Each term of the search, removable: none when ``q`` does not parse."""
        return [
            Chip(key, value, self.narrowed(**{key: ""}))
            for key, value in normalise_time_terms(self.terms or {}).items()
            if value
        ]

    def sized(self, size: int) -> str:
        return list_url(self.q, size)

    def export(self, fmt: str, *, bom: bool = False) -> str:
        return export_url(self.q, fmt, bom=bom)
