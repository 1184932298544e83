"""The pages' address parameters besides ``q``: read strictly, so a mistyped one is a message.

``page=abc``, ``page=-5``, ``per_page=37``, ``after=<not an id>``, ``range=bogus`` and
``during=bogus`` used to be dropped without a word (page 1, 25 rows, no cursor; a bogus range
even cleared the search's time terms). Each is now a ``Validation`` in the contract's shape
that the page shows under the search box with a 400, as it shows the search's own errors.
Values the menus write into ``q`` (type, status, from, to…) are checked there, by the
FilterSet, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connlogs import values
from connlogs.search.grammar import Validation

# A page number past the last page is not a mistake in the address (the page says it is past
# the end and links back), so only numbers above this one are read as this one.
MAX_PAGE = 1_000_000


def page_number(params: Mapping[str, str], maximum: int = MAX_PAGE) -> tuple[int, list]:
    """``page`` as ``(number, [])``: a whole number ≥ 1 (1 when absent or empty; numbers
    above ``maximum`` read as ``maximum``), else ``(1, [Validation("page", …)])``."""
    text = (params.get("page") or "").strip()
    if not text:
        return 1, []
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        return 1, [Validation("page", f"Page must be a whole number, 1 or more (not {text!r}).")]
    return min(number, maximum), []


def choice(params: Mapping[str, str], name: str, allowed: Iterable[str]) -> list[Validation]:
    """``[]`` when ``name`` is absent, empty or one of ``allowed``; else one ``Validation``
    that lists them."""
    text = (params.get(name) or "").strip()
    allowed = tuple(allowed)
    if not text or text in allowed:
        return []
    return [Validation(name, f"{name} must be one of {', '.join(allowed)} (not {text!r}).")]


def row_id(params: Mapping[str, str], name: str) -> tuple:
    """A cursor parameter (``after``/``before``) as ``(UUID or None, [])``, or
    ``(None, [Validation(name, …)])`` when it is not a connection log's id."""
    text = (params.get(name) or "").strip()
    if not text:
        return None, []
    try:
        return values.parse_uuid(text), []
    except ValueError:
        return None, [Validation(name, f"{name} must be a connection log's id (not {text!r}).")]
