"""A pseudonym typed into ``q`` matches the rows its real value would; a real value typed by
a viewer who may not see it matches nothing.

The search keys that name a person (``workspace_owner``, ``workspace_owner_email``,
``username``, ``user_email``, the owner in ``workspace:owner/name``, free text's usernames)
and the address key (``ip``) ask ``resolve_person`` / ``resolve_ip`` for their condition
instead of building it from the value. Both take the
key's own condition for a real value (``real_ids`` / ``real``) and return a ``Q`` on the
log table:

* data protection mode off (``CONNLOGS_DATA_PROTECTION=off``, or ``organizations`` with none
  protected): the real condition, unchanged, and no query more;
* a viewer who may reveal identities: the real value or a pseudonym, anywhere;
* a viewer who may not, with the mode on everywhere: only a pseudonym; anything else (a real
  username, a made-up one, a CIDR) is looked up as a pseudonym, found missing, and filters
  on an id or address nobody has: the same two queries, whatever was typed, so neither an
  error nor the time taken tells a real name from a made-up one;
* the same viewer when only some organizations are protected (``organizations``): a
  pseudonym in the protected organizations, the real condition in the others: each value
  only where it is shown, so no answer pairs a pseudonym with the real value of the same
  person or address; one more query reads which organizations are protected.

Only pseudonyms that were shown can be typed back: they are indexed when shown
(``Identities.remember``). Free text also matches the row's address as text: ``concealed_rows``
says in which rows a viewer must not find a word there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.db.models import Q

from connlogs import roles
from connlogs.models import Pseudonym, User
from connlogs.privacy import pseudonyms
from connlogs.privacy.identities import MODE_ON, MODE_ORGANIZATIONS, protected_organization_ids

# The address a pseudonym that is not indexed filters on: in the documentation prefix, so
# no row has it (a pseudonym with 96 zero bits is as likely as guessing the key).
NO_ADDRESS = str(pseudonyms.IP_NETWORK.network_address)


def _protected_organizations() -> list[uuid.UUID] | None:
    """``None``: every organization is protected; else the protected ones (maybe none)."""
    mode = settings.CONNLOGS_DATA_PROTECTION
    if mode == MODE_ON:
        return None
    return protected_organization_ids() if mode == MODE_ORGANIZATIONS else []


def _match(
    kind: str, token: str, viewer: User, pseudonym_q: Callable[[list[str]], Q], real_q: Callable
) -> Q:
    protected = _protected_organizations()
    if protected == []:
        return real_q()
    found = pseudonym_q(pseudonyms.lookup(pseudonyms.current_key(), kind, token))
    if roles.may_reveal_identities(viewer):
        return real_q() | found
    if protected is None:
        return found
    # Each where it is shown: a pseudonym that also found the rows showing the real value
    # would pair the two in one answer.
    shown_pseudonyms = Q(organization_id__in=protected)
    return (found & shown_pseudonyms) | (real_q() & ~shown_pseudonyms)


def concealed_rows(viewer: User) -> Q | None:
    """The rows ``viewer`` is shown pseudonyms in: ``None`` for none (mode off, or a viewer
    who may reveal identities), an empty ``Q()`` for every row (mode on), else the rows of
    the protected organizations (one query)."""
    protected = _protected_organizations()
    if protected == [] or roles.may_reveal_identities(viewer):
        return None
    return Q() if protected is None else Q(organization_id__in=protected)


def users_in_clear(viewer: User) -> Q | None:
    """The accounts ``viewer`` may name and be shown by real name (the user directory, every
    ``{user}`` in a path, a saved view's owner), within ``roles.visible_users``; ``None``:
    all of those.

    A viewer shown pseudonyms (the mode on, no ``identity-viewer``) reads themselves, the
    members of the organizations they administer (they manage those accounts by name, and
    site owners every account) and the members of readable organizations whose rows show
    real identities; any other name or id answers 404, as a made-up one does, so the
    directory tells no more than the log about who is behind a pseudonym (or exists).
    """
    protected = _protected_organizations()
    if protected == [] or roles.may_reveal_identities(viewer):
        return None  # the mode off costs no membership read
    administered = roles.administered_organization_ids(viewer)
    if administered is None:
        return None
    shown = Q(pk=viewer.pk) | Q(memberships__organization_id__in=administered or [roles.NO_ID])
    if protected is None:
        return shown
    readable = roles.readable_organization_ids(viewer)
    unprotected = Q(memberships__organization__data_protection=False)
    if readable is not None:
        unprotected &= Q(memberships__organization_id__in=readable or [roles.NO_ID])
    return shown | unprotected


def user_ids_in_clear(user_ids: set, viewer: User) -> set | None:
    """Which of ``user_ids`` ``viewer`` may read by real name (``users_in_clear``): ``None``
    for every one (no query), else those ids (one query)."""
    rule = users_in_clear(viewer)
    if rule is None:
        return None
    return set(User.objects.filter(rule, pk__in=user_ids).values_list("pk", flat=True))


def _on(columns: tuple[str, ...], ids: list) -> Q:
    condition = Q()
    for column in columns:
        condition |= Q(**{f"{column}__in": ids})
    return condition


def resolve_person(
    value: str, viewer: User, *, column: str | tuple[str, ...], real_ids: Callable[[str], list]
) -> Q:
    """The condition of a person key on ``column`` (``workspace_owner_id`` or ``user_id``;
    a tuple: any of them).

    ``value`` is a username or an email as typed (lower-cased by the grammar; a pseudonym
    is ``user-…`` or ``user-…@pseudonym.invalid``); ``real_ids(value)`` gives the ids the
    key matches for a real value (for a key: at least one id, ``filterset.nobody`` when none).
    """
    token = pseudonyms.user_token(value)
    columns = (column,) if isinstance(column, str) else column

    def pseudonym_q(values: list[str]) -> Q:
        # An unknown pseudonym: one id no user has, as ``filterset.nobody`` does.
        ids = [uuid.UUID(found) for found in values] or [uuid.uuid5(roles.NO_ID, token)]
        return _on(columns, ids)

    return _match(
        Pseudonym.Kind.USER, token, viewer, pseudonym_q, lambda: _on(columns, real_ids(value))
    )


def resolve_ip(value: str, viewer: User, *, real: Callable[[str], Q], column: str = "ip") -> Q:
    """The condition of the ``ip`` key: ``real(value)`` is the key's condition for a real
    address or network (a ``Q`` on ``column``); a pseudonym is an address in
    ``2001:db8::/32`` as shown."""
    token = pseudonyms.ip_token(value)

    def pseudonym_q(values: list[str]) -> Q:
        return Q(**{f"{column}__in": values or [NO_ADDRESS]})

    return _match(Pseudonym.Kind.IP, token, viewer, pseudonym_q, lambda: real(value))
