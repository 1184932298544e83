"""The pages' address parameters besides ``q``: read strictly, so a mistyped one is a message.

``page=abc``, ``page=-5``, ``per_page=37``, ``after=<not an id>``, ``range=bogus`` and
``during=bogus`` used to be dropped without a word (page 1, 25 rows, no cursor; a bogus range
even cleared the search's time terms). Each is now a ``Validation`` in the contract's shape
that the page shows under the search box with a 400, as it shows the search's own errors. A
parameter given twice is one too, in the API's words (``page=abc&page=1`` read the last one,
``page=1&page=abc`` refused it). Values the menus write into ``q`` (type, status, from,
to…) are checked there, by the FilterSet, not here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.http import QueryDict

from connlogs import values
from connlogs.api.pagination import single_param
from connlogs.search.grammar import Validation

# A page number past the last page is not a mistake in the address (the page says it is past
# the end and links back), so only numbers above this one are read as this one.
MAX_PAGE = 1_000_000
# The title over a page's errors when only its address parameters are wrong.
ADDRESS_ERRORS = "This address has a value the page cannot read."


def single(params: QueryDict, name: str) -> tuple[str, list[Validation]]:
    """``name``'s one value, stripped (``""`` when absent), or ``("", [Validation])`` when the
    address gives it more than once (``pagination.single_param``, the API's reader)."""
    errors: list[Validation] = []
    return single_param(params, name, errors).strip(), errors


def _invalid(name: str, rule: str, text: str) -> list[Validation]:
    """The API's wording: ``Query param "page" must be …, not "abc"`` (the value cut)."""
    shown = text if len(text) <= 64 else text[:64] + "…"
    return [Validation(name, f'Query param "{name}" must be {rule}, not "{shown}"')]


def page_number(params: QueryDict, maximum: int = MAX_PAGE) -> tuple[int, list[Validation]]:
    """``page`` as ``(number, [])``: a whole number ≥ 1 in ASCII digits (1 when absent or
    empty; numbers above ``maximum`` read as ``maximum``), else ``(1, [Validation])``."""
    text, errors = single(params, "page")
    if errors or not text:
        return 1, errors
    number = values.whole_number(text, maximum)
    if not number:
        return 1, _invalid("page", "a whole number, 1 or more", text)
    return number, []


def choice(params: QueryDict, name: str, allowed: Iterable[str]) -> list[Validation]:
    """``[]`` when ``name`` is absent, empty or one of ``allowed``; else one ``Validation``
    that lists them (or says it was given twice)."""
    text, errors = single(params, name)
    allowed = tuple(allowed)
    if errors or not text or text in allowed:
        return errors
    return _invalid(name, "one of " + ", ".join(allowed), text)


def row_id(params: QueryDict, name: str) -> tuple:
    """A cursor parameter (``after``/``before``) as ``(UUID or None, [])``, or
    ``(None, [Validation(name, …)])`` when it is not a connection log's id."""
    text, errors = single(params, name)
    if errors or not text:
        return None, errors
    try:
        return values.parse_uuid(text), []
    except ValueError:
        return None, _invalid(name, "a connection log's id", text)
