"""The sign-in lockout: at most ``CONNLOGS_LOGIN_MAX_FAILURES`` password checks per account
and per client address in a window of ``CONNLOGS_LOGIN_LOCKOUT_SECONDS``.

A try is *reserved* before the password is checked, by one atomic statement on a shared
counter in the database (``SignInThrottle``)::

    INSERT ... ON CONFLICT (bucket) DO UPDATE SET tries = tries + 1 ... RETURNING tries

so that however many workers, servers and parallel requests try at once, the database hands
out at most N reservations per window: the N+1st try is refused without checking a password.
A wrong password keeps its reservation (it is the failure count); a right one gives the
account's back (its counter is cleared) and the address's (one try handed back), so people
who sign in often from one office address are not locked out together.

A counter that reads, then checks the password, then writes (Django's cache, django-axes)
lets every one of 64 simultaneous tries pass the read before any failure is written.

The window slides with each checked try: a locked bucket opens again
``CONNLOGS_LOGIN_LOCKOUT_SECONDS`` after its last checked try; refused tries do not extend it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F

from connlogs.models import SignInThrottle

_TABLE = SignInThrottle._meta.db_table


@dataclass(frozen=True)
class Reservation:
    """The answer to one try: ``allowed`` to check the password, or wait ``retry_after``
    seconds (an integer, at least 1, when refused)."""

    allowed: bool
    retry_after: int = 0


def _bucket(kind: str, value: str) -> str:
    # Hashed: the table never holds an email or address in clear, and any value (NUL, a very
    # long header) fits the column.
    digest = hashlib.sha256((value or "").strip().lower().encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def _buckets(account: str, address: str) -> tuple[str, str]:
    return _bucket("account", account), _bucket("address", address or "-")


def _take(bucket: str, now: float) -> tuple[int, float]:
    """Count one try in ``bucket``; returns (tries in the window, including this one, and
    when the window ends, in epoch seconds). One statement: atomic on both databases."""
    limit = settings.CONNLOGS_LOGIN_MAX_FAILURES
    ends = now + settings.CONNLOGS_LOGIN_LOCKOUT_SECONDS
    quote = connection.ops.quote_name
    table = quote(_TABLE)
    tries, expires = f"{table}.{quote('tries')}", f"{table}.{quote('expires_at')}"
    sql = (
        f"INSERT INTO {table} ({quote('bucket')}, {quote('tries')}, {quote('expires_at')}) "
        f"VALUES (%s, 1, %s) ON CONFLICT ({quote('bucket')}) DO UPDATE SET "
        f"{quote('tries')} = CASE WHEN {expires} <= %s THEN 1 ELSE {tries} + 1 END, "
        f"{quote('expires_at')} = CASE WHEN {expires} <= %s OR {tries} < %s "
        f"THEN %s ELSE {expires} END "
        f"RETURNING {quote('tries')}, {quote('expires_at')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [bucket, ends, now, now, limit, ends])
        count, until = cursor.fetchone()
    return count, until


def _give_back(bucket: str) -> None:
    SignInThrottle.objects.filter(bucket=bucket, tries__gt=0).update(tries=F("tries") - 1)


def reserve(account: str, address: str) -> Reservation:
    """Reserve one password check for ``account`` (an email, a username, whatever was typed)
    from ``address``; refused when either has had its N checks in the window."""
    now = time.time()
    # Forget windows long closed, so the table holds only the last few minutes' tries.
    SignInThrottle.objects.filter(expires_at__lt=now).delete()
    limit = settings.CONNLOGS_LOGIN_MAX_FAILURES
    taken = [(bucket, *_take(bucket, now)) for bucket in _buckets(account, address)]
    refused = [until for _, count, until in taken if count > limit]
    if not refused:
        return Reservation(True)
    # Hand back what this refused try took from a bucket that still had room.
    for bucket, count, _ in taken:
        if count <= limit:
            _give_back(bucket)
    return Reservation(False, max(1, int(max(refused) - now) + 1))


def succeeded(account: str, address: str) -> None:
    """The password was right: clear the account's counter, hand the address its try back."""
    account_bucket, address_bucket = _buckets(account, address)
    SignInThrottle.objects.filter(bucket=account_bucket).delete()
    _give_back(address_bucket)


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
