"""The searches on record, as a reader who may not see identities is shown them.

The access log keeps each read's ``q`` as typed, and a reader who may reveal identities may
have typed a real name (``workspace_owner:zoe``) or address. Shown as is to an organization
admin who sees pseudonyms, it would name the person the connection log hides from them. So
the access log's doors (its page, API and export) show such a reader each search with the
person keys' values (``workspace_owner``, ``workspace_owner_email``, ``username``,
``user_email``) as the pseudonyms the connection log shows, and an address as its pseudonym.

* a search parsed by the connection log's grammar is written back term by term (lower-cased,
  as the search ran), the people in it replaced;
* an admin search term that is not one (an address, an id) is kept if it is an id,
  pseudonymised if it is an address, and hidden otherwise.

A name nobody has gets a pseudonym too (keyed on the name), so what is shown does not tell
whether the name typed exists. The stored entry, and so its hash in the chain, is unchanged:
``verify_access_log`` checks what was recorded.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable

from django.db.models.functions import Lower

from connlogs.models import AccessLogEntry, User
from connlogs.privacy import pseudonyms
from connlogs.privacy.identities import Identities
from connlogs.search import grammar
from connlogs.search.filterset import ConnectionLogFilterSet
from connlogs.values import normalize_ip

NAME_KEYS = frozenset({"workspace_owner", "username"})
EMAIL_KEYS = frozenset({"workspace_owner_email", "user_email"})
SHOWN_PSEUDONYM = re.compile(
    rf"^{re.escape(pseudonyms.USER_PREFIX)}[0-9a-f]{{{pseudonyms.USER_HEX_DIGITS}}}$"
)
HIDDEN = "(a search that may name people, hidden)"


def _parsed(q: str) -> dict[str, str] | None:
    parsed = grammar.parse(q, ConnectionLogFilterSet.base_filters)
    return parsed.terms if parsed.is_valid else None


def _people(terms: dict[str, str]) -> Iterable[tuple[str, str]]:
    """``(key, value)`` of the terms that name a person (``me`` names the reader)."""
    for key, value in terms.items():
        if key in NAME_KEYS | EMAIL_KEYS and value != "me":
            yield key, value


def _ids(names: set[str], emails: set[str]) -> dict[tuple[str, str], uuid.UUID]:
    """``{("name"|"email", value): user id}`` of the people named (two queries at most)."""
    found: dict[tuple[str, str], uuid.UUID] = {}
    if names:
        rows = (
            User.objects.annotate(username_lower=Lower("username"))
            .filter(username_lower__in=names)
            .values_list("username_lower", "id")
        )
        found.update((("name", name), pk) for name, pk in rows)
    if emails:
        rows = User.objects.filter(email__in=emails).values_list("email", "id")
        found.update((("email", email), pk) for email, pk in rows)
    return found


class SearchConcealer:
    """Rewrites the ``q`` of access-log entries for one reader (``Identities.for_viewer``)."""

    def __init__(self, identities: Identities):
        self.identities = identities

    @classmethod
    def for_viewer(cls, viewer: User) -> SearchConcealer:
        return cls(Identities.for_viewer(viewer))

    @property
    def active(self) -> bool:
        """Searches are rewritten while data protection mode is on and the reader may not
        reveal identities (every entry, whichever organizations it read: a search that found
        nothing names a person all the same)."""
        return self.identities.enabled and not self.identities.reveal

    def conceal(self, entries: list[AccessLogEntry]) -> list[AccessLogEntry]:
        """``entries`` with ``q`` rewritten in place (never saved: entries are append-only)."""
        if not self.active:
            return entries
        parsed = {entry.pk: _parsed(entry.q) for entry in entries if entry.q}
        named = [pair for terms in parsed.values() if terms for pair in _people(terms)]
        ids = _ids(
            {value for key, value in named if key in NAME_KEYS},
            {value for key, value in named if key in EMAIL_KEYS},
        )
        for entry in entries:
            if entry.q:
                terms = parsed[entry.pk]
                entry.q = self._admin_term(entry.q) if terms is None else self._written(terms, ids)
        return entries

    def _pseudonym(self, key: str, value: str, ids: dict) -> str:
        kind = "email" if key in EMAIL_KEYS else "name"
        if SHOWN_PSEUDONYM.match(pseudonyms.user_token(value)):
            return value  # a pseudonym already
        user_id = ids.get((kind, value)) or uuid.uuid5(uuid.NAMESPACE_OID, f"{kind}:{value}")
        found = self.identities.key.user(user_id)
        return found.email if kind == "email" else found.username

    def _written(self, terms: dict[str, str], ids: dict) -> str:
        shown = []
        people = set(_people(terms))
        for key, value in terms.items():
            if (key, value) in people:
                value = self._pseudonym(key, value, ids)
            shown.append(f"{key}:{grammar.quote(value) if ' ' in value else value}")
        return " ".join(shown)

    def _admin_term(self, q: str) -> str:
        text = q.strip()
        try:
            uuid.UUID(text)
            return q
        except ValueError:
            pass
        try:
            address = normalize_ip(text)
        except ValueError:
            return HIDDEN
        if address is None or ipaddress.ip_address(address) in pseudonyms.IP_NETWORK:
            return q  # nothing, or a pseudonym already
        return self.identities.key.ip(address)
