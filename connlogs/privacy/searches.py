"""The searches on record in the access log, as a reader who may not see identities is shown
them.

The access log keeps each read's ``q`` as typed, and a reader who may reveal identities may
have typed a real name (``workspace_owner:zoe``) or address. Shown as is to an organization
admin who sees pseudonyms, it would name the person the connection log hides from them. So
the access log's doors (its page, API and export, the admin, a checksum file) show such a
reader each search through ``connlogs.privacy.shown_query.ShownQuery``:

* an entry whose reader saw identities (it revealed some, or the reader may reveal them) is
  *linked*: its names and addresses are shown as the pseudonyms of the rows that read found;
* any other entry's real values are shown as stand-ins, which match nothing, as the real
  value matched nothing for its reader; so a reader who types real names cannot learn their
  pseudonyms from their own entries; so is every free-text word, and every search a stream
  or a webhook sent (never linked: whoever edits it typed it);
* an admin search that is not a ``q`` (an IPv6 address, say) is written as one term;
  a retention entry names no one and stays.

The stored entry, and so its hash in the chain, is unchanged: ``verify_access_log`` checks
what was recorded.
"""

from __future__ import annotations

from connlogs import roles
from connlogs.models import AccessLogEntry, User
from connlogs.privacy.identities import Identities
from connlogs.privacy.shown_query import ShownQuery, address_of
from connlogs.search.grammar import quote

# Admin searches that are not ``q`` text are shown as this one term (an address, a UUID).
ADMIN_DOORS = frozenset({AccessLogEntry.Door.ADMIN, AccessLogEntry.Door.ADMIN_DETAIL})
OUTBOUND_DOORS = frozenset({AccessLogEntry.Door.STREAM, AccessLogEntry.Door.ALERT})


def _as_query(entry: AccessLogEntry) -> str:
    """An admin door's search box text as ``q`` text: a bare address (the admin's search by
    address, which the grammar would refuse for its colons) quoted as a free-text word."""
    text = entry.q.strip()
    if entry.door in ADMIN_DOORS and address_of(text) is not None and ":" in text:
        return quote(text)
    return entry.q


def _linked(entry: AccessLogEntry, revealing: set) -> bool:
    """Whether ``entry``'s search ran for a reader who saw identities. Never for what a
    stream or a webhook sent: its search is one that whoever edits it typed, not a read
    of theirs, and linked it would give them the pseudonym of any name they typed."""
    if entry.door in OUTBOUND_DOORS:
        return False
    return entry.revealed or entry.user_id in revealing


class SearchConcealer:
    """Rewrites the ``q`` of access-log entries for one reader (``Identities.for_viewer``)."""

    def __init__(self, identities: Identities):
        self.shown = ShownQuery(identities, every_word=True)

    @classmethod
    def for_viewer(cls, viewer: User) -> SearchConcealer:
        return cls(Identities.for_viewer(viewer))

    @property
    def active(self) -> bool:
        return self.shown.active

    def conceal(self, entries: list[AccessLogEntry]) -> list[AccessLogEntry]:
        """``entries`` with ``q`` rewritten in place (never saved: entries are append-only)."""
        if not self.active:
            return entries
        written = [
            entry for entry in entries if entry.q and entry.door != AccessLogEntry.Door.RETENTION
        ]
        readers = {entry.user_id for entry in written if entry.user_id and not entry.revealed}
        revealing = {
            user.pk
            for user in User.objects.filter(pk__in=readers)
            if roles.may_reveal_identities(user)
        }
        shown = self.shown.render_all(
            [(_as_query(entry), _linked(entry, revealing)) for entry in written]
        )
        for entry, q in zip(written, shown, strict=True):
            entry.q = q
        return entries
