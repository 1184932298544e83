"""``Idempotency-Key`` for event batches: a retried batch is applied once.

A reporter whose request timed out cannot know whether its batch was written. Agent events
merge, so resending them is harmless; web events never merge, so a blind retry would record
them twice. With the same ``Idempotency-Key`` header the retry gets the first answer back and
writes nothing. The key is stored in the same transaction as the rows, so either both exist
or neither does; two requests racing with one key are serialised by its unique index.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connlogs.models import EventBatch, User

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
# How long a key is remembered; a reporter retries within minutes, not days.
REMEMBERED_FOR = dt.timedelta(hours=24)


class KeyReused(Exception):
    """The key was already used for a different batch."""


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def _digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def apply_once(reporter: User, key: str, body: Any, apply: Callable[[], dict]) -> tuple[dict, bool]:
    """Run ``apply`` once per ``(reporter, key)``; returns ``(answer, replayed)``."""
    digest = _digest(body)
    with transaction.atomic():
        EventBatch.objects.filter(
            reporter=reporter, created_at__lt=timezone.now() - REMEMBERED_FOR
        ).delete()
        try:
            with transaction.atomic():
                batch = EventBatch.objects.create(reporter=reporter, key=key, body_sha256=digest)
        except IntegrityError:
            stored = EventBatch.objects.get(reporter=reporter, key=key)
            if stored.body_sha256 != digest:
                raise KeyReused() from None
            return stored.result, True
        batch.result = apply()
        batch.save(update_fields=["result"])
        return batch.result, False
