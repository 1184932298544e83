"""Which database errors are transient, and running a transaction again when one occurs.

PostgreSQL aborts one of two transactions that deadlock (SQLSTATE 40P01) and, under
serializable or repeatable-read isolation, one that cannot be serialized (40001). Nothing of
the aborted transaction was written, so it is safe to run it again whole; the next attempt
usually succeeds because the other transaction has finished. The one definition shared by the
writers that hit them: event ingest (``events.apply_events``) and retention
(``retention.purge``), whose deletes meet ingest's disconnects on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError
from psycopg.errors import DeadlockDetected, SerializationFailure

T = TypeVar("T")

# Attempts of one transaction in all, the first included.
ATTEMPTS = 3


def is_transient(error: BaseException) -> bool:
    """True for a deadlock or a serialization failure (as Django wraps psycopg's errors)."""
    return isinstance(error, OperationalError) and isinstance(
        error.__cause__, DeadlockDetected | SerializationFailure
    )


def retried(transaction: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """``transaction()``'s result, called again (up to ``attempts`` calls in all) while it
    raises a transient error. ``transaction`` must run in its own ``atomic`` block, so that an
    aborted attempt is rolled back before the next. The last transient error, or any other
    error, is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return transaction()
        except OperationalError as error:
            if attempt == attempts or not is_transient(error):
                raise
    raise AssertionError("unreachable")
