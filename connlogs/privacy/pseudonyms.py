"""Pseudonyms: a keyed HMAC of a user id or an address, and the index of those shown.

The key is HMAC-SHA256(``CONNLOGS_PSEUDONYM_SECRET``, salt), the salt being the newest
``PseudonymKey`` row (random, made by migration 0007 and by ``manage.py
rotate_pseudonym_key``). Without both, a pseudonym cannot be computed from a value, nor
reversed (short of trying every value); two deployments never share pseudonyms.

What a pseudonym looks like (docs/privacy.md, docs/decisions.md):

* a person: ``user-`` and 12 hex digits of HMAC("user:" + user id) (48 bits: among 100,000
  users the chance of two sharing one is 2 in 100,000); their email is that name at
  ``pseudonym.invalid`` (RFC 2606 reserves ``.invalid``); their id a version-8 UUID from the
  next 16 bytes of the same HMAC. Keyed on the id, not the username: a rename keeps it.
* an address: an IPv6 address in ``2001:db8::/32``, the documentation prefix (RFC 3849)
  that no client ever has, its low 96 bits from HMAC("ip:" + address). The contract's
  ``ip`` is an address (Coder's clients parse it as one), so a pseudonym must be one too.

Each value is hashed once per process (``functools.lru_cache``): an export of millions of
rows computes one HMAC per distinct person and address.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, transaction

from connlogs.privacy.models import Pseudonym, PseudonymKey

USER_PREFIX = "user-"
USER_HEX_DIGITS = 12
EMAIL_DOMAIN = "pseudonym.invalid"
IP_NETWORK = ipaddress.IPv6Network("2001:db8::/32")
# A process reads the key in use again after this long: a rotation reaches every worker
# within it.
KEY_SECONDS = 60.0
# Tokens this process knows to be indexed; forgotten wholesale past this many.
MAX_REMEMBERED = 200_000


class UserPseudonym(NamedTuple):
    id: uuid.UUID
    username: str
    email: str


@dataclass(frozen=True)
class Key:
    """The pseudonym key in use: ``id`` of its ``PseudonymKey`` row and the HMAC key."""

    id: int
    secret: bytes

    def user(self, user_id: uuid.UUID | str) -> UserPseudonym:
        """The pseudonym of the user with this id (a UUID or its canonical text)."""
        return _user_pseudonym(self.secret, str(user_id))

    def ip(self, address: str) -> str:
        """The pseudonym of an address as the log stores it (``values.normalize_ip``)."""
        return _ip_pseudonym(self.secret, str(address))


def _digest(secret: bytes, kind: str, value: str) -> bytes:
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=65536)
def _user_pseudonym(secret: bytes, user_id: str) -> UserPseudonym:
    digest = _digest(secret, "user", user_id)
    username = USER_PREFIX + digest.hex()[:USER_HEX_DIGITS]
    raw = bytearray(digest[16:32])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: "custom" (RFC 9562)
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC's variant
    return UserPseudonym(uuid.UUID(bytes=bytes(raw)), username, f"{username}@{EMAIL_DOMAIN}")


@functools.lru_cache(maxsize=65536)
def _ip_pseudonym(secret: bytes, address: str) -> str:
    low = int.from_bytes(_digest(secret, "ip", address)[:12], "big")
    return str(ipaddress.IPv6Address(int(IP_NETWORK.network_address) | low))


def is_ip_pseudonym(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in IP_NETWORK
    except ValueError:
        return False


def user_token(text: str) -> str:
    """The ``user-…`` name in a typed username or pseudonymous email (the rest unchanged)."""
    name, at, domain = text.partition("@")
    return name if at and domain == EMAIL_DOMAIN else text


def ip_token(text: str) -> str:
    """A typed address in the form pseudonyms are written in (the text unchanged if it is
    not an address)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


# --- the key in use ------------------------------------------------------------------------

_lock = threading.Lock()
_loaded: tuple[Key, float] | None = None


def new_salt() -> str:
    return secrets.token_hex(32)


def current_key() -> Key:
    """The key in use (read at most every ``KEY_SECONDS``; made if there is none yet)."""
    global _loaded
    with _lock:
        if _loaded is not None and time.monotonic() - _loaded[1] < KEY_SECONDS:
            return _loaded[0]
    row = PseudonymKey.objects.order_by("-id").first()
    if row is None:
        row = PseudonymKey.objects.create(salt=new_salt())
    secret = settings.CONNLOGS_PSEUDONYM_SECRET.encode()
    key = Key(row.id, hmac.new(secret, bytes.fromhex(row.salt), hashlib.sha256).digest())
    with _lock:
        _loaded = (key, time.monotonic())
    return key


def forget_key() -> None:
    """Read the key again on next use (after a rotation in this process, and in tests)."""
    global _loaded
    with _lock:
        _loaded = None
        _indexed.clear()


# --- the index of shown pseudonyms ---------------------------------------------------------

_indexed: set[tuple[int, str]] = set()


def remember(key: Key, shown: dict[str, tuple[str, str]]) -> None:
    """Index ``{token: (kind, value)}`` shown with ``key``, so that each can be searched for.

    One INSERT for the tokens this process has not indexed before (none when it has); a
    token indexed meanwhile by another process is skipped by the database.
    """
    new = [token for token in shown if (key.id, token) not in _indexed]
    if not new:
        return
    try:
        with transaction.atomic():  # a savepoint: a failure leaves the caller's transaction
            Pseudonym.objects.bulk_create(
                [
                    Pseudonym(
                        token=token, kind=shown[token][0], value=shown[token][1], key_id=key.id
                    )
                    for token in new
                ],
                ignore_conflicts=True,
            )
    except DatabaseError:
        # The key was rotated since this process read it: what it showed is void anyway.
        forget_key()
        return
    if len(_indexed) + len(new) > MAX_REMEMBERED:
        _indexed.clear()
    _indexed.update((key.id, token) for token in new)


def lookup(key: Key, kind: str, token: str) -> list[str]:
    """The value (user id or address text) a shown pseudonym stands for: ``[]`` or one.

    One query by primary key, whatever ``token`` is: a real name looks up exactly as an
    unknown pseudonym does.
    """
    return list(
        Pseudonym.objects.filter(token=token, kind=kind, key_id=key.id).values_list(
            "value", flat=True
        )
    )
