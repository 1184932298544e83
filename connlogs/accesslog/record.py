"""Recording a read of connection logs: one INSERT, nothing else before the answer.

Every door records once per read, after it has the rows and before it answers, so that a
read whose entry cannot be written fails instead of going unrecorded. The doors that answer
in one response (``record_rows``, ``record_changes``) hand the entry to
``connlogs.accesslog.writer``, which commits it while the response is built and holds the
response until it is; a download's entry, written when its body ends, and a door without a
request (a stream worker) use ``record``, which writes at once. What follows is deferred
until the response is sent (``connlogs.privacy.deferred``): indexing the pseudonyms shown
and chaining the new entry (``connlogs.accesslog.chain``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from connlogs.accesslog import chain, writer
from connlogs.models import AccessLogEntry, ApiToken, ConnectionLog
from connlogs.privacy.deferred import after_response
from connlogs.privacy.identities import Identities
from connlogs.throttle import client_address

Door = AccessLogEntry.Door


@dataclass(frozen=True)
class Reader:
    """Who reads: the account (id and username as they are now), the API token's name
    (``""`` for a browser session; ``<kind> <id>`` for a token without a name) and the client
    address (``throttle.client_address``: behind a proxy, the one it saw)."""

    user_id: uuid.UUID | None
    username: str
    token_name: str = ""
    address: str = ""

    @classmethod
    def for_delivery(cls, account, sender: str, receiver: str) -> Reader:
        """A worker sending rows out as ``account`` reads them (a stream's or a rule's
        creator): ``sender`` names what sends (``stream "SIEM"``) in the token's place, and
        ``receiver`` (the receiver's host and port) in the client address's."""
        if len(receiver) > 64:
            receiver = "…" + receiver[-63:]  # the domain and the port are at the end
        return cls(
            user_id=account.pk,
            username=account.get_username(),
            token_name=sender[:64],
            address=receiver,
        )

    @classmethod
    def from_request(cls, request) -> Reader:
        user = request.user
        token = getattr(request, "auth", None)
        token_name = ""
        if isinstance(token, ApiToken):
            token_name = token.name or f"{token.kind} {token.id}"
        return cls(
            user_id=user.pk if user.is_authenticated else None,
            username=user.get_username() if user.is_authenticated else "",
            token_name=token_name,
            address=client_address(request)[:64],
        )


@dataclass
class Export:
    """What the access log says of a download: its file name, format-independent SHA-256 of
    the bytes sent and whether it ran to the end."""

    name: str
    sha256: str = ""
    status: str = AccessLogEntry.ExportStatus.COMPLETE


@dataclass
class Read:
    """One read: the door, the search (``q``) or the row asked for, what it returned."""

    door: str
    q: str = ""
    row_id: uuid.UUID | None = None
    rows: int = 0
    revealed: bool = False
    organizations: set = field(default_factory=set)
    export: Export | None = None


def organizations_text(ids: Iterable) -> str:
    return " ".join(sorted({str(pk) for pk in ids}))


def _entry(reader: Reader, read: Read, identities: Identities | None) -> AccessLogEntry:
    """The unsaved entry of ``read`` by ``reader``; queues what follows it (see the module)."""
    export = read.export
    entry = AccessLogEntry(
        user_id=reader.user_id,
        username=reader.username,
        token_name=reader.token_name[:64],
        address=reader.address,
        door=read.door,
        q=read.q,
        row_id=read.row_id,
        rows=read.rows,
        revealed=read.revealed or bool(identities and identities.revealed),
        organizations=organizations_text(read.organizations),
        export_name=export.name if export else "",
        export_sha256=export.sha256 if export else "",
        export_status=export.status if export else "",
    )
    if identities is not None:
        identities.remember_after_response()
    after_response(chain.seal_when_due)
    return entry


def record(reader: Reader, read: Read, identities: Identities | None = None) -> AccessLogEntry:
    """Append the entry of ``read`` by ``reader`` now (one INSERT) and return it; its
    chaining and the index of the pseudonyms ``identities`` showed wait until the response
    is sent."""
    entry = _entry(reader, read, identities)
    writer.insert(entry)
    return entry


def record_rows(
    request, door: str, q: str, rows: list[ConnectionLog], identities: Identities, **extra
) -> None:
    """Record a read that returned these model rows (a page, a detail), before the response
    leaves (``writer.append``). The rows are concealed first (``Identities.conceal_row``,
    applied once), so the entry says whether they were shown in clear whatever the door
    does with them next."""
    rows = [identities.conceal_row(row) for row in rows]
    read = Read(
        door=door,
        q=q,
        rows=len(rows),
        organizations={row.organization_id for row in rows},
        **extra,
    )
    writer.append(_entry(Reader.from_request(request), read, identities))


def record_changes(
    request, q: str, rows: int, organizations: Iterable, identities: Identities
) -> None:
    """Record a change-feed read (``Door.FEED``: the API's and the following page's)
    that returned ``rows`` rows of ``organizations`` (ids). A read that returned none is not
    recorded: a following page asks every few seconds, and such entries would bury the
    reads that showed rows."""
    if not rows:
        return
    read = Read(door=Door.FEED, q=q, rows=rows, organizations=set(organizations))
    writer.append(_entry(Reader.from_request(request), read, identities))
