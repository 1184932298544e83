"""Who may change what sends identities out: a stream a site owner set to send them in clear
(``pseudonymised`` off), or an alert rule whose webhook carries rows as its creator sees them.

Either goes where its settings say. An editor who is shown pseudonyms could otherwise point
it at a receiver of their own (its URL, its search, its organization) and read there the
people and addresses the pages hide from them. So that editor may rename it, pause or resume
it, delete it, or turn a stream's pseudonymisation back on; any other change is refused
(``SendsIdentities``). Only the values that change count: a page that sends every field back
as it was shown changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from connlogs.privacy.identities import MODE_OFF

# What any editor may change: neither where the rows go nor which rows.
OPEN_TO_EVERY_EDITOR = frozenset({"name", "paused"})
STREAM_REFUSED = (
    "This stream sends identities in clear, as a site owner set it: only someone who may see "
    "identities may change what it sends or where ({fields}). You may rename, pause, resume "
    'or delete it, or turn "pseudonymised" back on.'
)
RULE_REFUSED = (
    "This rule's webhook carries rows as its creator sees them, identities included: only "
    "someone who may see identities may change what it sends or where ({fields}). You may "
    "rename, pause, resume or delete it."
)


class SendsIdentities(Exception):
    """A change refused: the editor may not redirect what sends identities in clear. The
    text names the fields and what the editor may do instead."""


def protection_on() -> bool:
    """Whether data protection mode conceals anything at all (``CONNLOGS_DATA_PROTECTION``)."""
    return settings.CONNLOGS_DATA_PROTECTION != MODE_OFF


def settings_of(thing, names: Iterable[str]) -> dict:
    """``{name: value}`` of ``thing``'s fields ``names``, to compare before and after."""
    return {name: getattr(thing, name) for name in names}


def check_unchanged(before: dict, after: dict, refusal: str) -> None:
    """Raise ``SendsIdentities`` (``refusal`` naming the fields) when a value other than
    ``OPEN_TO_EVERY_EDITOR``'s differs between ``before`` and ``after``."""
    changed = [
        name
        for name in before
        if name not in OPEN_TO_EVERY_EDITOR and before[name] != after.get(name)
    ]
    if changed:
        raise SendsIdentities(refusal.format(fields=", ".join(changed)))
