"""A connection-log ``q`` as a reader who sees pseudonyms is shown it.

Searches are kept as typed (the access log's entries, saved views, streams), and a real name
or address in them would name, to a reader shown pseudonyms, the person the log hides. So
every place that shows such a reader a ``q`` someone wrote shows it through ``ShownQuery``,
which reads it with the search language's own parts (``connlogs.search.grammar`` splits it
into terms; each key's value field of ``ConnectionLogFilterSet`` cleans the value into its
items: a list, ``owner/name``, networks, free-text words) and writes every term back, the
people and addresses replaced:

* a person key (``workspace_owner``, ``username``, ``workspace_owner_email``, ``user_email``,
  negated or not, each item of a list) and the owner in ``workspace:owner/name``: a pseudonym;
  ``me`` and pseudonyms stay;
* ``ip``: an address's pseudonym; a range (CIDR) has none, and gets a stand-in;
* a free-text word (free text finds usernames and addresses): a username or email it names
  exactly, or an address, as a pseudonym; a word that is part of a username, email, name or
  address (or holds one) of someone in the reader's organizations a stand-in; other words
  stay (so a shared view's words still search for them), except in the access log
  (``every_word``), where each is a person's. Either way, how a reader's own search is
  written back never says whether a word is part of the name of someone in an organization
  they do not read (``-frank`` and ``-zzz`` differed, frank being another organization's);
* the other keys stay (they name no person: types, times, codes, workspaces, agents);
* a ``q`` the grammar or a value field refuses is hidden whole (``HIDDEN``).

Which pseudonym: a ``linked`` search (one that ran for a reader who sees identities, so its
names found those people's rows) shows each real value as the pseudonym the rows show, and
indexes it so that it can be typed back (``Identities.remember``). Any other search shows a
*stand-in*: a pseudonym of the typed text itself, which matches nothing, as the real value
matched nothing for whoever typed it; a name nobody has is a stand-in too. So what is shown
never tells whether a name exists, and a reader who types real names cannot learn their
pseudonyms from how their own searches are shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django import forms
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Contains

from connlogs import roles
from connlogs.models import User
from connlogs.privacy import pseudonyms
from connlogs.privacy.identities import Identities
from connlogs.search import grammar
from connlogs.search.fields import WorkspaceName
from connlogs.search.filterset import NEGATION, ConnectionLogFilterSet
from connlogs.values import normalize_ip

NAME, EMAIL = "name", "email"
PERSON_KEYS = {
    "workspace_owner": NAME,
    "username": NAME,
    "workspace_owner_email": EMAIL,
    "user_email": EMAIL,
}
# The keys whose values are rewritten; every other key names no person or address.
REWRITTEN = frozenset({*PERSON_KEYS, "workspace", "ip", grammar.FREE_TEXT_KEY})
HIDDEN = "(a search that may name people, hidden)"
# What a word made only of these, with a dot or colon, may be: part of an address.
ADDRESS_CHARACTERS = frozenset("0123456789abcdef.:/")


def _is_user_pseudonym(text: str) -> bool:
    token = pseudonyms.user_token(text)
    digits = token.removeprefix(pseudonyms.USER_PREFIX)
    return (
        token != digits
        and len(digits) == pseudonyms.USER_HEX_DIGITS
        and all(char in "0123456789abcdef" for char in digits)
    )


def address_of(text: str) -> str | None:
    """``text`` as an address in the form rows keep it, or ``None`` if it is not one."""
    try:
        return normalize_ip(text)
    except ValueError:
        return None


def _address_like(word: str) -> bool:
    return set(word) <= ADDRESS_CHARACTERS and any(char in word for char in ".:")


def _written(value: str) -> str:
    """A value as ``q`` text: quoted when it holds a space, a colon or a quote."""
    if any(char in value for char in ' :"'):
        return '"' + value.replace('"', "") + '"'
    return value


@dataclass
class _Term:
    key: str  # as typed, ``-`` included
    value: object  # the value field's cleaned items, or the text for keys kept as typed


def _terms(q: str) -> list[_Term] | None:
    """``q``'s terms, each rewritten key's value cleaned by its own field; ``None`` when the
    grammar or a field refuses it."""
    parsed = grammar.parse(q, ConnectionLogFilterSet.base_filters)
    if not parsed.is_valid:
        return None
    terms = []
    for key, value in parsed.terms.items():
        if key.removeprefix(NEGATION) not in REWRITTEN:
            terms.append(_Term(key, value))
            continue
        declared = ConnectionLogFilterSet.base_filters[key]
        field = declared.field_class(**{**declared.extra, "query_key": key})
        try:
            terms.append(_Term(key, field.clean(value)))
        except forms.ValidationError:
            return None
    return terms


def _words(terms: Iterable[_Term]) -> set[str]:
    return {
        word
        for term in terms
        if term.key.removeprefix(NEGATION) == grammar.FREE_TEXT_KEY
        for alternatives in term.value or ()
        for word in alternatives
    }


class ShownQuery:
    """Writes ``q`` texts for one reader (``Identities.for_viewer``); ``render`` each, or
    ``render_all`` a batch with one look-up of the people they name."""

    def __init__(
        self,
        identities: Identities,
        *,
        every_word: bool = False,
        organizations: list[uuid.UUID] | None = None,
    ):
        self.identities = identities
        # Every free-text word written as a person (the access log): whether a word is part
        # of some name must not show in how a reader's own search is written back to them.
        self.every_word = every_word
        # Otherwise a word is a person's when it is part of the name of someone in these
        # organizations (the reader's; None: anyone's), never of another organization's.
        self.organizations = organizations
        self._ids: dict[tuple[str, str], uuid.UUID] = {}
        self._overlapping: dict[str, bool] = {}

    @classmethod
    def for_viewer(cls, viewer: User) -> ShownQuery:
        readable = roles.readable_organization_ids(viewer)
        return cls(Identities.for_viewer(viewer), organizations=readable)

    @property
    def active(self) -> bool:
        """Texts are rewritten while data protection mode is on and the reader may not
        reveal identities (whichever organizations a search read: a search that found
        nothing names a person all the same)."""
        return self.identities.enabled and not self.identities.reveal

    def render(self, q: str, *, linked: bool = False) -> str:
        return self.render_all([(q, linked)])[0]

    def render_all(self, searches: list[tuple[str, bool]]) -> list[str]:
        """``[(q, linked), ...]`` as shown to this reader, in order. The pseudonyms of a
        linked search are indexed after the response."""
        if not self.active:
            return [q for q, _ in searches]
        parsed = [(_terms(q) if q.strip() else [], linked) for q, linked in searches]
        self._look_up([terms for terms, linked in parsed if terms and linked])
        if not self.every_word:
            self._check_words(_words(term for terms, _ in parsed for term in terms or ()))
        shown = [
            q if terms == [] else HIDDEN if terms is None else self._write(terms, linked)
            for (q, _), (terms, linked) in zip(searches, parsed, strict=True)
        ]
        self.identities.remember_after_response()
        return shown

    # --- the people named (two queries at most per batch) -----------------------------------

    def _look_up(self, linked_terms: list[list[_Term]]) -> None:
        names, emails = set(), set()
        for terms in linked_terms:
            for term in terms:
                base = term.key.removeprefix(NEGATION)
                if base in PERSON_KEYS:
                    (names if PERSON_KEYS[base] == NAME else emails).update(term.value or ())
                elif base == "workspace":
                    names.update(item.owner for item in term.value or () if item.owner)
            words = _words(terms)
            emails.update(word for word in words if "@" in word)
            names.update(word for word in words if "@" not in word)
        names -= {name for kind, name in self._ids if kind == NAME}
        emails -= {email for kind, email in self._ids if kind == EMAIL}
        for kind, column, wanted in ((NAME, "username", names), (EMAIL, "email", emails)):
            if wanted:
                rows = (
                    User.objects.annotate(folded=Lower(column))
                    .filter(folded__in=wanted)
                    .values_list("folded", "id")
                )
                self._ids.update(((kind, folded), pk) for folded, pk in rows)

    def _check_words(self, words: set[str]) -> None:
        """Which free-text words are part of a username, email or name, or hold a username
        or an email (one query per word not checked yet)."""
        for word in words - self._overlapping.keys():
            if _is_user_pseudonym(word) or "@" in word or _address_like(word):
                continue
            part_of = Q(username__icontains=word) | Q(email__icontains=word)
            part_of |= Q(name__icontains=word)
            holds = Q(Contains(Value(word), Lower("username"))) | (
                Q(Contains(Value(word), Lower("email"))) & ~Q(email="")
            )
            users = User.objects.filter(part_of | holds)
            if self.organizations is not None:
                users = users.filter(memberships__organization_id__in=self.organizations)
            self._overlapping[word] = users.exists()

    # --- writing ----------------------------------------------------------------------------

    def _write(self, terms: list[_Term], linked: bool) -> str:
        written = []
        for term in terms:
            base = term.key.removeprefix(NEGATION)
            if base == grammar.FREE_TEXT_KEY:
                words = [self._word(alternatives, linked) for alternatives in term.value or ()]
                if term.key == grammar.FREE_TEXT_KEY:
                    written.extend(_written(word) for word in words)
                else:
                    written.append(f"{term.key}:{_written(' '.join(words))}")
                continue
            if base in PERSON_KEYS:
                items = [self._person(PERSON_KEYS[base], item, linked) for item in term.value]
            elif base == "workspace":
                items = [self._workspace(item, linked) for item in term.value]
            elif base == "ip":
                items = [self._network(network, linked) for network in term.value]
            else:
                items = [term.value]
            written.append(f"{term.key}:{_written(','.join(items))}")
        return " ".join(written)

    def _person(self, kind: str, value: str, linked: bool) -> str:
        if value == "me" or _is_user_pseudonym(value):
            return value
        user_id = self._ids.get((kind, value)) if linked else None
        if user_id is not None:
            found = self.identities.user(user_id)
        else:
            found = self.identities.key.user(uuid.uuid5(uuid.NAMESPACE_OID, f"{kind}:{value}"))
        return found.email if kind == EMAIL else found.username

    def _workspace(self, item: WorkspaceName, linked: bool) -> str:
        if item.owner is None:
            return item.name
        return f"{self._person(NAME, item.owner, linked)}/{item.name}"

    def _address(self, address: str, linked: bool) -> str:
        if pseudonyms.is_ip_pseudonym(address):
            return address
        if linked:
            return self.identities.ip(address)
        return self.identities.key.ip(f"typed:{address}")

    def _network(self, network, linked: bool) -> str:
        if network.prefixlen == network.max_prefixlen:
            return self._address(str(network.network_address), linked)
        return self.identities.key.ip(f"typed:{network}")  # a range has no pseudonym

    def _word(self, alternatives: tuple[str, ...], linked: bool) -> str:
        return ",".join(self._one_word(word, linked) for word in alternatives)

    def _one_word(self, word: str, linked: bool) -> str:
        if _is_user_pseudonym(word) or pseudonyms.is_ip_pseudonym(word):
            return word
        if "@" in word:
            return self._person(EMAIL, word, linked)
        address = address_of(word)
        if address is not None:
            return self._address(address, linked)
        if self.every_word or _address_like(word) or self._overlapping.get(word, True):
            return self._person(NAME, word, linked)
        return word


def kept_as_stored(shown: ShownQuery, typed: str, stored: str) -> bool:
    """Whether ``typed`` (a ``q`` sent back to change a saved view or a stream) is only the
    stored ``stored`` as ``shown``'s reader was shown it: then the stored text stays, so that
    saving what the form showed never replaces real names with stand-ins."""
    return shown.active and typed.strip() == shown.render(stored).strip() != stored.strip()


def shown_searches(viewer: User, holders: Iterable) -> list[str]:
    """The ``q`` of each of ``holders`` (streams, alert rules: anything with a ``q`` someone
    wrote), in order, as ``viewer`` is shown it (never linked: whoever may change the holder
    may have written its text)."""
    return ShownQuery.for_viewer(viewer).render_all([(holder.q, False) for holder in holders])
