"""Who may change what a stream or an alert rule sends, and where.

A stream and a rule read the log as their creator: its search finds people by the names
their creator sees, and its rows go out as its creator (or, for a stream, its
``pseudonymised`` setting) shows them. An editor who is shown pseudonyms where the creator
sees people could otherwise point it at a receiver of their own (its URL, its search, its
organization, the saved view it follows) and read there which pseudonym a name they typed
has, or the people themselves. So that editor may rename it, pause or resume it, delete it,
or turn a stream's pseudonymisation back on; any other change is refused
(``SendsIdentities``), as is a change of the search of a saved view such a stream or rule
follows. A stream a site owner set to send identities in clear changes, beyond that, only by
a site owner who may see them. Only the values that change count: a page that sends every
field back as it was shown changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from connlogs import roles
from connlogs.privacy.identities import MODE_OFF

# What any editor may change: neither where the rows go nor which rows.
OPEN_TO_EVERY_EDITOR = frozenset({"name", "paused"})
READS_AS_CREATOR = (
    "This {thing} reads the log as {creator}, who sees identities that are shown to you as "
    "pseudonyms: only someone who may see identities may change what it sends or where "
    "({fields}). You may rename, pause, resume or delete it."
)
IN_CLEAR = (
    "This stream sends identities in clear, as a site owner set it: only a site owner who may "
    "see identities may change what it sends or where ({fields}). You may rename, pause, "
    'resume or delete it, or turn "pseudonymised" back on.'
)
VIEW_FEEDS = (
    "This view's search is what {feeds} sends, which reads the log as someone who sees "
    "identities that are shown to you as pseudonyms: only someone who may see identities may "
    "change it. You may rename it or copy it to a view of your own."
)


class SendsIdentities(Exception):
    """A change refused: the editor may not steer a stream or rule that reads as someone
    who sees identities they do not. The text names the fields and what the editor may do
    instead."""


def protection_on() -> bool:
    """Whether data protection mode conceals anything at all (``CONNLOGS_DATA_PROTECTION``)."""
    return settings.CONNLOGS_DATA_PROTECTION != MODE_OFF


def reads_beyond(editor: roles.User, creator: roles.User) -> bool:
    """Whether what ``creator`` reads (a stream's or a rule's creator) shows identities that
    ``editor`` is shown pseudonyms of."""
    return (
        protection_on()
        and roles.may_reveal_identities(creator)
        and not roles.may_reveal_identities(editor)
    )


def settings_of(thing, names: Iterable[str]) -> dict:
    """``{name: value}`` of ``thing``'s fields ``names``, to compare before and after."""
    return {name: getattr(thing, name) for name in names}


def check_unchanged(before: dict, after: dict, refusal: str, **words: str) -> None:
    """Raise ``SendsIdentities`` (``refusal`` with ``words`` and the fields) when a value
    other than ``OPEN_TO_EVERY_EDITOR``'s differs between ``before`` and ``after``."""
    changed = [
        name
        for name in before
        if name not in OPEN_TO_EVERY_EDITOR and before[name] != after.get(name)
    ]
    if changed:
        raise SendsIdentities(refusal.format(fields=", ".join(changed), **words))
