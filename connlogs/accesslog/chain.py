"""The access log's hash chain: entries sealed in order, and the check of the whole chain.

Entries are inserted unchained (one INSERT on the read path). The sealer gives each the next
position ``seq``, the previous entry's hash ``prev_hash`` and its own ``hash``:
HMAC-SHA256 keyed with ``CONNLOGS_ACCESS_LOG_KEY`` over the position, the previous hash and
every recorded field. Sealers take a lock (an advisory lock on PostgreSQL; SQLite's write
lock), so the chain is one line whatever the number of workers; an entry committed late is
simply chained later.

What the chain shows (``verify``): an entry changed after it was sealed (its hash no longer
matches), an entry deleted (a gap in ``seq``, or the next entry's ``prev_hash`` pointing at
something else), entries deleted from the start beyond what a retention entry accounts for.
A keyed hash cannot be recomputed by someone who edits the database without the key. The
newest entries can be cut off without a trace in the chain itself: the sealer logs the head
(``connlogs.accesslog`` logger), so a copy kept elsewhere shows that too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from connlogs.models import AccessLogEntry
from connlogs.values import format_time

logger = logging.getLogger("connlogs.accesslog")

# The fields a hash covers, in this order (the chain's fields themselves are added apart).
HASHED = (
    "id",
    "time",
    "user_id",
    "username",
    "token_name",
    "address",
    "door",
    "q",
    "row_id",
    "rows",
    "revealed",
    "organizations",
    "export_name",
    "export_sha256",
    "export_status",
    "purged_through",
)
SEAL_BATCH = 1000
VERIFY_BATCH = 5000
# Any number, the same in every process: the advisory lock of the sealers.
_LOCK_ID = 0x636F6E6E6C6F6773


def _key() -> bytes:
    return hashlib.sha256(
        b"connlogs-access-log:" + settings.CONNLOGS_ACCESS_LOG_KEY.encode()
    ).digest()


def _plain(value):
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def entry_hash(values: dict, seq: int, prev_hash: str, key: bytes | None = None) -> str:
    """The hash of an entry (``values``: its ``HASHED`` fields) at position ``seq``."""
    payload = json.dumps(
        [seq, prev_hash, [_plain(values[name]) for name in HASHED]],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key or _key(), payload.encode(), hashlib.sha256).hexdigest()


def _locked(wait: bool) -> bool:
    """Take the sealers' lock for the current transaction (``wait``: or give up)."""
    if connection.vendor != "postgresql":
        return True  # SQLite: the write transaction holds the database's one write lock
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [_LOCK_ID])
        got = cursor.fetchone()[0]
    return wait or bool(got)


def seal(*, wait: bool = True, limit: int = SEAL_BATCH) -> int:
    """Chain up to ``limit`` unsealed entries, oldest first; the number chained.

    ``wait=False`` returns 0 at once when another sealer holds the lock.
    """
    key = _key()
    with transaction.atomic():
        if not _locked(wait):
            return 0
        head = (
            AccessLogEntry.objects.filter(seq__isnull=False)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        seq, prev = head or (0, "")
        pending = list(
            AccessLogEntry.objects.filter(seq__isnull=True).order_by("id").values(*HASHED)[:limit]
        )
        if not pending:
            return 0
        updates = []
        for values in pending:
            seq += 1
            digest = entry_hash(values, seq, prev, key)
            updates.append([seq, prev, digest, values["id"]])
            prev = digest
        table = connection.ops.quote_name(AccessLogEntry._meta.db_table)
        with connection.cursor() as cursor:
            # Not the model's update(): the application never changes an entry, it seals it.
            cursor.executemany(
                f"UPDATE {table} SET seq = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s AND seq IS NULL",
                updates,
            )
    logger.info(json.dumps({"access_log_head": {"seq": seq, "hash": prev}}))
    return len(pending)


def seal_all() -> int:
    """Seal until nothing is left (the management commands)."""
    total = 0
    while sealed := seal():
        total += sealed
    return total


_last_sealed = time.monotonic()


def seal_when_due() -> None:
    """After a response that recorded a read: seal, at most every
    ``CONNLOGS_ACCESS_LOG_SEAL_SECONDS`` per process, never waiting for another sealer."""
    global _last_sealed
    interval = settings.CONNLOGS_ACCESS_LOG_SEAL_SECONDS
    now = time.monotonic()
    if interval <= 0 or now - _last_sealed < interval:
        return
    _last_sealed = now
    seal(wait=False)


# --- the check ----------------------------------------------------------------------------


@dataclass
class Verdict:
    """What ``verify`` found: ``problems`` is empty when the chain is whole."""

    checked: int = 0
    unsealed: int = 0
    first_seq: int | None = None
    head_seq: int | None = None
    head_hash: str = ""
    purged_through: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sealed_entries() -> Iterator[dict]:
    last = 0
    while True:
        batch = list(
            AccessLogEntry.objects.filter(seq__gt=last)
            .order_by("seq")
            .values(*HASHED, "seq", "prev_hash", "hash")[:VERIFY_BATCH]
        )
        yield from batch
        if len(batch) < VERIFY_BATCH:
            return
        last = batch[-1]["seq"]


def verify() -> Verdict:
    """Walk the chain from its oldest entry; say what was changed or deleted."""
    key = _key()
    verdict = Verdict(unsealed=AccessLogEntry.objects.filter(seq__isnull=True).count())
    marker = (
        AccessLogEntry.objects.filter(purged_through__isnull=False, seq__isnull=False)
        .order_by("-seq")
        .values_list("purged_through", flat=True)
        .first()
    )
    verdict.purged_through = marker or 0
    previous: dict | None = None
    for entry in _sealed_entries():
        seq = entry["seq"]
        if previous is None:
            verdict.first_seq = seq
            if seq > verdict.purged_through + 1:
                verdict.problems.append(
                    f"entries {verdict.purged_through + 1} to {seq - 1} are missing: deleted "
                    "before the oldest entry, and no retention purge accounts for them"
                )
            if seq == 1 and entry["prev_hash"]:
                verdict.problems.append("entry 1 claims a predecessor")
        else:
            if seq != previous["seq"] + 1:
                gap = f"{previous['seq'] + 1}" + (
                    f" to {seq - 1}" if seq - 1 > previous["seq"] + 1 else ""
                )
                verdict.problems.append(f"entry {gap} is missing: deleted")
            elif entry["prev_hash"] != previous["hash"]:
                verdict.problems.append(
                    f"entry {seq} (id {entry['id']}) does not follow entry {previous['seq']}: "
                    "one of them was replaced"
                )
        if entry_hash(entry, seq, entry["prev_hash"], key) != entry["hash"]:
            verdict.problems.append(
                f"entry {seq} (id {entry['id']}) was changed after it was recorded"
            )
        verdict.checked += 1
        previous = entry
    if previous is not None:
        verdict.head_seq, verdict.head_hash = previous["seq"], previous["hash"]
    return verdict
