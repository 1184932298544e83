"""Sign-in throttling: too many wrong passwords for one account or from one address lock
further tries out for a while (the API and the sign-in page share these counters)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _keys(account: str, address: str) -> list[str]:
    digest = hashlib.sha256((account or "").strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:acct:{digest}", f"login-fail:addr:{address or '-'}"]


def retry_after(account: str, address: str) -> int:
    """Seconds until sign-in may be tried again; 0 when not locked out."""
    now = time.time()
    waits = []
    for key in _keys(account, address):
        entry = cache.get(key)
        if entry and entry["count"] >= settings.CONNLOGS_LOGIN_MAX_FAILURES:
            waits.append(int(entry["until"] - now) + 1)
    return max([w for w in waits if w > 0], default=0)


def record_failure(account: str, address: str) -> None:
    window = settings.CONNLOGS_LOGIN_LOCKOUT_SECONDS
    for key in _keys(account, address):
        entry = cache.get(key) or {"count": 0}
        entry = {"count": entry["count"] + 1, "until": time.time() + window}
        cache.set(key, entry, window)


def record_success(account: str, address: str) -> None:
    cache.delete(_keys(account, address)[0])


def lockout_message(seconds: int) -> str:
    return f"Too many failed sign-in attempts. Try again in {seconds} seconds."


def client_address(request) -> str:
    """The address sign-in failures are counted against.

    Behind a reverse proxy every request comes from the proxy's address, so counting
    REMOTE_ADDR would let a few wrong passwords lock everybody out. With
    ``CONNLOGS_CLIENT_ADDRESS_HEADER`` (e.g. ``X-Forwarded-For``) set, the last address in
    that header is used: the one the proxy itself appended (earlier ones come from the
    client and may be forged). Leave it unset when clients reach the app directly.
    """
    header = settings.CONNLOGS_CLIENT_ADDRESS_HEADER
    if header:
        key = "HTTP_" + header.upper().replace("-", "_")
        forwarded = request.META.get(key, "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")
