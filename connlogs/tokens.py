"""API and session tokens: issued once as ``<id>-<secret>``, kept only as a hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

from connlogs.models import ApiToken, User

_ID_LENGTH = 10
_SECRET_LENGTH = 22
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_CHARACTERS = frozenset(_ALPHABET)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    user: User,
    *,
    kind: str = ApiToken.Kind.TOKEN,
    name: str = "",
    lifetime: dt.timedelta | None = None,
) -> str:
    """Create a token and return its key; the key is never stored and cannot be shown again."""
    token_id, secret = _random(_ID_LENGTH), _random(_SECRET_LENGTH)
    ApiToken.objects.create(
        id=token_id,
        user=user,
        kind=kind,
        name=name,
        hashed_secret=_hash(secret),
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    return f"{token_id}-{secret}"


def issue_session(user: User) -> str:
    lifetime = dt.timedelta(seconds=settings.CONNLOGS_SESSION_TOKEN_LIFETIME)
    return issue(user, kind=ApiToken.Kind.SESSION, name="session", lifetime=lifetime)


def find(key: str) -> ApiToken | None:
    """The live token for ``key``, or None (unknown, wrong secret, expired, user suspended)."""
    token_id, _, secret = (key or "").partition("-")
    # Only ids we could have issued reach the database (a NUL would be a 500 on PostgreSQL).
    if len(token_id) != _ID_LENGTH or not secret or not set(token_id) <= _ID_CHARACTERS:
        return None
    token = ApiToken.objects.select_related("user").filter(id=token_id).first()
    # compare_digest runs in constant time: no timing hint about how much of a secret matched.
    if token is None or not hmac.compare_digest(token.hashed_secret, _hash(secret)):
        return None
    if token.is_expired() or not token.user.is_active:
        return None
    return token


def revoke(key: str) -> bool:
    token = find(key)
    if token is None:
        return False
    token.delete()
    return True
