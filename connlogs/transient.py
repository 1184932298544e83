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

from django.db import IntegrityError, OperationalError
from psycopg.errors import DeadlockDetected, SerializationFailure, UniqueViolation

T = TypeVar("T")

# Attempts of one transaction in all, the first included.
ATTEMPTS = 3
# The merge key of the connection log (storage.ddl): a writer that loses the race to record a
# connection gets this unique violation; run again, it finds the winner's row.
MERGE_KEY_CONSTRAINT = "connection_log_connection_unique"


class RowsVanished(OperationalError):
    """Rows a transaction locked were gone when it wrote them (retention detached their
    partition meanwhile): run again, it no longer finds them."""


def is_transient(error: BaseException) -> bool:
    """True for a deadlock, a serialization failure, a lost race for a connection's key or
    vanished rows (as Django wraps psycopg's errors)."""
    if isinstance(error, RowsVanished):
        return True
    cause = error.__cause__
    if isinstance(error, IntegrityError):
        return (
            isinstance(cause, UniqueViolation)
            and cause.diag.constraint_name == MERGE_KEY_CONSTRAINT
        )
    return isinstance(error, OperationalError) and isinstance(
        cause, DeadlockDetected | SerializationFailure
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
        except (OperationalError, IntegrityError) as error:
            if attempt == attempts or not is_transient(error):
                raise
    raise AssertionError("unreachable")
