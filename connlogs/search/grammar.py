"""The ``q`` search language: text in, ``{key: value}`` or the contract's validation errors out.

This module is the grammar and nothing else; what each key means lives in the FilterSet.
The rules follow Coder's search parser (see docs/search.md):

1. the whole string is lower-cased, values included;
2. it is split on spaces, a double-quoted run staying together, then quotes are removed;
3. words without a colon are joined into one free-text value under the key ``search``;
4. an element that starts or ends with ``:`` is the only error reported;
5. an element with more than one unquoted ``:`` is the only error reported;
6. a key given twice is an error on that key;
7. a key no filter knows is an error on that key.
8. (ours) at most ``MAX_VALUES`` values in all: list items (``a,b``) and free words;
9. (ours) an unquoted word that starts with ``-`` leaves out what the word finds: such words
   are joined with commas under ``-search`` (``-a -b`` is ``-search:a,b``, neither word); a
   quoted one with a space is an error (it would bind with the others).

Ours, on top: ``-key`` (a negation) and ``search`` are keys like any other for these rules
(the FilterSet knows them), and two errors teach: rule 5's sentence goes on to show the
quoted form, rule 7's lists the keys. Coder's sentence is kept whole, first, so a client that
matches on it still does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

FREE_TEXT_KEY = "search"
NEGATION = "-"

# Each value is one more condition OR'ed or AND'ed into the search's SQL, and SQLite refuses
# an expression nested past 1,000 deep ("Expression tree is too large"): ~990 values of one
# key. 500 is past any list typed or pasted into a search box, and a clear 400 beyond it.
MAX_VALUES = 500


@dataclass(frozen=True)
class Validation:
    field: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "detail": self.detail}


@dataclass
class ParsedQuery:
    terms: dict[str, str] = field(default_factory=dict)
    errors: list[Validation] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


def quote(text: str) -> str:
    """Go's %q: a double-quoted string with quotes and backslashes escaped."""
    return json.dumps(text, ensure_ascii=False)


def repeated_param(key: str, found: int) -> str:
    """The contract's sentence for a parameter given more than once (in q or the URL)."""
    return (
        f"Query param {quote(key)} provided more than once, found {found} times. "
        "Only provide 1 instance of this query param."
    )


def _split(text: str, delimiter: str) -> list[str]:
    """Split on ``delimiter`` outside double quotes, dropping empty parts, keeping quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == delimiter and not quoted:
            if current:
                parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return parts


def _unquoted_colons(element: str) -> int:
    quoted = False
    count = 0
    for char in element:
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            count += 1
    return count


def unknown_key(key: str, known: Iterable[str]) -> str:
    """Coder's sentence for an unknown key, then the keys there are (negations left out)."""
    listed = ", ".join(name for name in known if not name.startswith("-"))
    return (
        f"{quote(key)} is not a valid query param. Valid keys: {listed}; "
        'put "-" before a key to exclude what it matches'
    )


def parse(q: str | None, known_keys: Iterable[str]) -> ParsedQuery:
    """Tokenize ``q`` into search terms, or the validation errors of the contract.

    ``known_keys`` in the order the unknown-key sentence lists them.
    """
    known = list(known_keys)
    knows = set(known)
    if (q or "").count('"') % 2:
        # Ours: Coder reads the rest of the query as quoted and may drop the term whole
        # (``workspace_owner:"`` found every row); a search that says less than it was
        # typed to say is refused instead.
        detail = 'Query has an unclosed quote ("): close it, or remove it'
        return ParsedQuery(errors=[Validation("q", detail)])
    elements = _split((q or "").lower(), " ")
    pairs: list[tuple[str, str]] = []
    free_words: list[str] = []
    left_out: list[str] = []
    for element in elements:
        if element.startswith(":") or element.endswith(":"):
            detail = f"Query element {quote(element)} cannot start or end with ':'"
            return ParsedQuery(errors=[Validation("q", detail)])
        colons = _unquoted_colons(element)
        if colons == 0 and element.startswith("-") and element.strip('-"'):
            word = element[1:].strip('"')
            if " " in word:
                # Joined with the others as either (a,b), a phrase would bind with them.
                detail = (
                    f'Query element {quote(element)}: a word left out with "-" is one word; '
                    f'to leave out a phrase, use -search:"{word}" alone'
                )
                return ParsedQuery(errors=[Validation("q", detail)])
            left_out.append(word)
        elif colons == 0:
            free_words.append(element.strip('"'))
        elif colons == 1:
            key, value = (part.strip('"') for part in _split(element, ":"))
            pairs.append((key, value))
        else:
            key, _, value = element.partition(":")
            detail = (
                f"Query element {quote(element)} can only contain 1 ':'. A value with ':' "
                f'(a time, an IPv6 address) must be quoted: {key}:"{value.replace(chr(34), "")}"'
            )
            return ParsedQuery(errors=[Validation("q", detail)])
    if free_words:
        pairs.append((FREE_TEXT_KEY, " ".join(free_words)))
    if left_out:
        # Rows with none of the words: a free-text word ``a,b`` is either, so its negation is
        # neither (De Morgan).
        pairs.append((NEGATION + FREE_TEXT_KEY, ",".join(left_out)))
    values = sum(_count_values(value) for _, value in pairs)
    if values > MAX_VALUES:
        detail = (
            f"Query has {values:,} values (list items and free words): at most "
            f"{MAX_VALUES} are searched at once, so split the search"
        )
        return ParsedQuery(errors=[Validation("q", detail)])

    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    for key, found in counts.items():
        if found > 1:
            return ParsedQuery(errors=[Validation(key, repeated_param(key, found))])

    parsed = ParsedQuery()
    for key, value in pairs:
        if key in knows:
            parsed.terms[key] = value
        else:
            parsed.errors.append(Validation(key, unknown_key(key, known)))
    return parsed


def _count_values(value: str) -> int:
    """Values in a term: its parts between commas and spaces (a quoted name with a space
    counts twice: the bound is generous either way)."""
    return sum(1 for part in value.replace(",", " ").split(" ") if part) or 1


def build(terms: dict[str, str]) -> str:
    """Write terms back as ``q`` text, quoting values that need it (used by the pages).

    A double quote inside a value (typed into a menu's field) cannot be said in the
    language: the value is written with an odd number of quotes, so the search reads back
    as an unclosed quote, an error shown with the text typed, never as another value or
    other terms searched instead."""
    parts = []
    for key, value in terms.items():
        if value == "":
            continue
        if any(char in value for char in ' :"'):
            value = f'"{value}"' + ('"' if value.count('"') % 2 == 0 and '"' in value else "")
        parts.append(f"{key}:{value}")
    return " ".join(parts)
