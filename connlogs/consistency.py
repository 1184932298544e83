"""Read-your-writes with a read replica: a client sees its own events at once (docs/scaling.md).

Chosen: compare WAL positions (LSNs), not a fixed "primary for N seconds" window. When a
request that wrote connection logs answers with success, the primary's WAL position (past
the request's commit) is remembered for its user in Django's cache for
``CONNLOGS_READ_YOUR_WRITES_SECONDS``. A later connection-log read by that user, on any app
server, goes to the replica only if the replica has replayed that position
(``replication.monitor.replayed``), else to the primary. A window would send every read of
a writer to the primary for the whole window even when the replica is milliseconds behind,
and would still be wrong when the lag exceeds it; the LSN answers exactly, for one cached
value and at most one extra replica query per read.

The cache must be shared by all app servers (``CONNLOGS_CACHE_TABLE`` or Redis): with the
default per-process cache a client is only guaranteed its own writes on the same worker.

The router learns the current request from ``current_request`` (set here for the request's
whole life, streamed bodies included: it is cleared when the response is closed).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from connlogs import replication

logger = logging.getLogger("connlogs.consistency")

current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "connlogs_current_request", default=None
)
_WROTE_LOGS = "_connlogs_wrote_logs"


def _cache_key(user_id) -> str:
    return f"connlogs:written-lsn:{user_id}"


def _user_id(request: HttpRequest):
    # DRF sets request.user on the Django request once it has authenticated a token.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user.pk


def note_log_write() -> None:
    """The current request writes connection logs (called by the router)."""
    request = current_request.get()
    if request is not None:
        setattr(request, _WROTE_LOGS, True)


def must_read_primary() -> bool:
    """Whether the current request's user wrote logs the replica has not replayed yet."""
    request = current_request.get()
    if request is None:
        return False
    if getattr(request, _WROTE_LOGS, False):
        return True
    user_id = _user_id(request)
    if user_id is None:
        return False
    written = cache.get(_cache_key(user_id))
    return written is not None and not replication.monitor.replayed(written)


def remember_write(request: HttpRequest) -> None:
    """Remember the primary's WAL position for the request's user (after its commit)."""
    user_id = _user_id(request)
    if user_id is None:
        return
    try:
        lsn = replication.primary_lsn()
    except DatabaseError as error:  # the write is committed; its answer must still go out
        logger.warning("could not read the primary's WAL position: %s", error)
        return
    if lsn is not None:
        cache.set(_cache_key(user_id), lsn, settings.CONNLOGS_READ_YOUR_WRITES_SECONDS)


def _forget_request(**kwargs) -> None:
    current_request.set(None)


request_finished.connect(_forget_request, dispatch_uid="connlogs.consistency.forget_request")


class ReadYourWritesMiddleware:
    """Makes the request known to the router; after a successful write of connection logs
    with a replica configured, remembers the write's WAL position for its user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        current_request.set(request)
        response = self.get_response(request)
        if (
            getattr(request, _WROTE_LOGS, False)
            and response.status_code < 400
            and replication.monitor.measuring()
        ):
            remember_write(request)
        return response
