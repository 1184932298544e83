"""One stream's delivery round: take the stream's lease, send the changes after its cursor in
batches, move the cursor after each acknowledged batch, then give the lease back and say when
the next round is due.

At least once, in feed order: the cursor moves only after the receiver took the batch, so a
crash or an outage between the two re-sends that batch (receivers de-duplicate by ``seq`` or
``connection_log.id``). The lease fences the cursor: every move is conditional on still
holding it, so a worker that stalled past its lease cannot move a cursor another worker now
owns. Failures back off exponentially with jitter and retry forever (AWS Architecture Blog,
"Exponential Backoff And Jitter", the "equal jitter" variant).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from django.db import transaction
from django.utils import timezone

from connlogs import destinations
from connlogs.accesslog.record import Door, Read, Reader, record
from connlogs.feed.reading import EntryPage, FeedError, FeedTrimmed, reader_for
from connlogs.privacy.identities import Identities
from connlogs.savedviews.resolve import ViewNotFound, query_of
from connlogs.streams import leases
from connlogs.streams.destinations import DeliveryFailed, Record, send
from connlogs.streams.leases import (  # noqa: F401 - delivery's names, kept
    BACKOFF_MAX_SECONDS,
    backoff_seconds,
    lease,
)
from connlogs.streams.models import Stream, StreamBatch
from connlogs.streams.secrets import SecretUnreadable

logger = logging.getLogger("connlogs.streams")

ROUND_SECONDS = 5.0
CAUGHT_UP_SECONDS = 0.5


@dataclass
class RoundResult:
    """What a round did: ``claimed`` (False: another worker holds the stream, or it is paused
    or gone), ``records`` delivered, ``error`` (the last failure's text) and ``caught_up``."""

    claimed: bool
    records: int = 0
    error: str = ""
    caught_up: bool = False


def claim(stream_id, worker_id: str) -> bool:
    """Take (or renew) the lease of an unpaused stream whose lease is free or expired."""
    return leases.claim(Stream, stream_id, worker_id)


def _search_of(stream: Stream) -> str:
    q = query_of(stream.view, stream.created_by) if stream.view else stream.q
    if stream.organization_id:
        # Ahead of the stream's own q: the first of a repeated key wins.
        q = f"organization:{stream.organization_id} {q}"
    return q


def _records(page: EntryPage) -> list[Record]:
    return [Record(time, entry) for time, entry in zip(page.times, page.entries, strict=True)]


def identities_of(stream: Stream) -> Identities:
    """What ``stream`` sends of the people and addresses in protected rows: pseudonyms
    unless a site owner turned ``pseudonymised`` off (docs/privacy.md)."""
    return Identities.for_stream(pseudonymise=stream.pseudonymised)


def _record_batch(stream: Stream, q: str, page: EntryPage, identities: Identities) -> None:
    """The access-log entry of a batch about to go out (door ``stream``): read as the
    stream's creator, named after the stream, addressed to its receiver; ``revealed`` when a
    protected row goes in clear. Written before the send, so a batch whose entry cannot be
    written is not sent; a batch sent again (a retry) is recorded again."""
    where = destinations.receiver(stream.url, stream.host, stream.port)
    read = Read(
        door=Door.STREAM,
        q=q,
        rows=len(page.entries),
        organizations=set(page.organizations),
        revealed=identities.reveal and any(map(identities.protects_id, page.organizations)),
    )
    record(Reader.for_delivery(stream.created_by, f'stream "{stream.name}"', where), read)


def _advance(stream: Stream, worker_id: str, cursor: int, records: int) -> bool:
    """Move the cursor to ``cursor`` if this worker still holds the lease (and the stream is
    not paused); note the batch. False: stop, the stream is no longer ours."""
    now = timezone.now()
    with transaction.atomic():  # one commit (one flush to disk) per batch, not two
        moved = Stream.objects.filter(
            pk=stream.pk, lease_owner=worker_id, cursor=stream.cursor, paused=False
        ).update(
            cursor=cursor,
            cursor_at=now,
            lease_expires_at=now + lease(),
            failures=0,
            **({"last_success_at": now} if records else {}),
        )
        if moved and records:
            StreamBatch.objects.create(
                stream_id=stream.pk, delivered_at=now, records=records, last_seq=cursor
            )
    stream.cursor = cursor if moved else stream.cursor
    return moved == 1


def _fail(stream: Stream, worker_id: str, error: str) -> None:
    failures = stream.failures + 1
    leases.fail(Stream, stream.pk, worker_id, failures, error)
    logger.warning("stream %s: delivery failed (attempt %d): %s", stream.pk, failures, error)


def _release(stream: Stream, worker_id: str, caught_up: bool) -> None:
    leases.release(Stream, stream.pk, worker_id, CAUGHT_UP_SECONDS if caught_up else 0)


def _skip_trimmed(stream: Stream, worker_id: str, trimmed: FeedTrimmed) -> str | None:
    # Retention removed entries this stream had not sent: they are gone for every reader.
    # Say so (the stream's last error) and go on from the oldest entry kept.
    error = (
        f"retention removed feed entries {stream.cursor + 1}..{trimmed.oldest_seq - 1} "
        "before they were delivered"
    )
    if not _advance(stream, worker_id, trimmed.oldest_seq - 1, 0):
        return None  # no longer ours
    Stream.objects.filter(pk=stream.pk).update(last_error=error, last_error_at=timezone.now())
    logger.error("stream %s: %s", stream.pk, error)
    return error


def _read_ahead(reader, page: EntryPage, stream: Stream, deadline: float) -> EntryPage | None:
    """The page after ``page``, read while ``page`` is out; ``None`` when the round ends
    with ``page`` (its budget is spent) or the read failed (the next
    read from the cursor then meets the failure and handles it)."""
    if time.monotonic() >= deadline:
        return None
    try:
        return reader.page(after=page.next, limit=stream.batch_size)
    except FeedError:
        return None


def deliver_round(stream_id, worker_id: str, budget: float | None = None) -> RoundResult:
    """Deliver ``stream_id`` as ``worker_id``: batches of its ``batch_size`` until it is
    caught up, ``budget`` seconds (``ROUND_SECONDS``) are spent (at least one batch is
    sent), a send fails (backoff), or the lease is lost. Raises nothing a stream could
    cause: failures land in the stream.

    While a batch is out (sent by a helper thread, which touches no database), the next
    batch is read; it is sent only after the cursor moved past the one before, so batches
    still go out one at a time, in feed order, each acknowledged before the next."""
    if not claim(stream_id, worker_id):
        return RoundResult(claimed=False)
    stream = Stream.objects.select_related("created_by").get(pk=stream_id)
    result = RoundResult(claimed=True)
    deadline = time.monotonic() + (ROUND_SECONDS if budget is None else budget)
    identities = identities_of(stream)
    reader = ahead = None
    with requests.Session() as session, ThreadPoolExecutor(1, "stream-send") as sender:
        while True:
            try:
                if reader is None:  # one per round: the search, the users shaped
                    q = _search_of(stream)
                    reader = reader_for(stream.created_by, q=q, identities=identities)
                if ahead is None:
                    ahead = reader.page(after=stream.cursor, limit=stream.batch_size)
                page, ahead = ahead, None
                if page.entries:
                    _record_batch(stream, q, page, identities)
                    out = sender.submit(send, stream, _records(page), session)
                    try:
                        ahead = _read_ahead(reader, page, stream, deadline)
                    finally:
                        out.result()  # the receiver's answer: raises DeliveryFailed
            except FeedTrimmed as trimmed:
                skipped = _skip_trimmed(stream, worker_id, trimmed)
                if skipped is None:
                    break
                result.error = skipped
                continue
            except (DeliveryFailed, FeedError, SecretUnreadable, ViewNotFound) as error:
                result.error = str(error) or type(error).__name__
                _fail(stream, worker_id, result.error)
                identities.remember()
                return result
            if page.next <= stream.cursor:
                result.caught_up = True
                break
            if not _advance(stream, worker_id, page.next, len(page.entries)):
                break  # paused, or no longer ours: the lease goes back if we still hold it
            result.records += len(page.entries)
            if time.monotonic() >= deadline:
                break
    _release(stream, worker_id, result.caught_up)
    identities.remember()  # the pseudonyms sent can be typed back into a search
    return result
