"""Secrets at rest (streams' HEC tokens and HMAC keys, alert rules' webhook keys): Fernet
tokens, never the plaintext; ``EncryptedSecret`` is the field and its accessors.

Fernet (``cryptography``: AES-128-CBC and HMAC-SHA256, with a timestamp) under the keys of
``CONNLOGS_SECRETS_KEY``, newest first: the first key encrypts, every key decrypts
(``MultiFernet``), so a new key goes in front and ``manage.py reencrypt_stream_secrets``
moves every secret to it before the old key is dropped. Without the setting the key is
derived from ``SECRET_KEY`` (HKDF-SHA256, RFC 5869): fine for development, but then changing
``SECRET_KEY`` makes every stored secret unreadable (docs/deployment.md).

A secret that no key decrypts raises ``SecretUnreadable``, whose text names the cause and
never holds the secret: delivery records it as the stream's (or the firing's) last error.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

DERIVATION_INFO = b"connlogs stream secrets v1"
UNREADABLE = (
    "The stored secret cannot be decrypted with any key of CONNLOGS_SECRETS_KEY (was the "
    "key, or SECRET_KEY when that setting is empty, changed without re-encrypting?). Put the "
    "old key back after the new one, or set the secret again."
)
BAD_KEY = (
    "CONNLOGS_SECRETS_KEY: every key must be 32 url-safe base64-encoded bytes, as "
    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
    " prints."
)


class SecretUnreadable(Exception):
    """A stored secret that no configured key decrypts (a wrong or dropped key)."""

    def __init__(self, detail: str = UNREADABLE):
        super().__init__(detail)


def configured_keys() -> list[str]:
    """``CONNLOGS_SECRETS_KEY`` as a list (a string is one key), or the key derived from
    ``SECRET_KEY`` when it is empty."""
    keys = settings.CONNLOGS_SECRETS_KEY
    keys = [keys] if isinstance(keys, str) else list(keys or [])
    keys = [key.strip() for key in keys if key and key.strip()]
    return keys or [derived_key(settings.SECRET_KEY)]


def derived_key(secret_key: str) -> str:
    """The development key: HKDF-SHA256 of ``secret_key``, url-safe base64 (Fernet's form)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVATION_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in configured_keys()])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(BAD_KEY) from None


def encrypt(plaintext: str) -> str:
    """``plaintext`` as a Fernet token under the first key (``""`` stays ``""``: no secret)."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    """The plaintext of a stored token (``""`` for none); raises ``SecretUnreadable``."""
    return _open(stored, MultiFernet.decrypt)


def reencrypt(stored: str) -> str:
    """``stored`` re-encrypted under the first key (``MultiFernet.rotate``); raises
    ``SecretUnreadable`` when no key decrypts it."""
    return _open(stored, MultiFernet.rotate)


def _open(stored: str, how: Callable[[MultiFernet, bytes], bytes]) -> str:
    if not stored:
        return ""
    try:
        return how(_fernet(), stored.encode()).decode()
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable() from None


def is_encrypted(stored: str) -> bool:
    """Does ``stored`` decrypt under the keys (the migration's test for a plaintext left
    from before encryption)?"""
    try:
        decrypt(stored)
    except SecretUnreadable:
        return False
    return True


class EncryptedSecret(models.Model):
    """A write-only secret kept encrypted: ``set_secret`` stores one, ``secret_value`` reads
    it (the sender only), ``has_secret`` is all the API and the pages say about it."""

    # A Fernet token of the secret, never the plaintext ("" = none).
    secret_encrypted = models.TextField(blank=True, default="")

    class Meta:
        abstract = True

    @property
    def has_secret(self) -> bool:
        """A secret is stored."""
        return bool(self.secret_encrypted)

    def set_secret(self, plaintext: str) -> None:
        """Keep ``plaintext`` encrypted (``""`` removes the secret); the caller saves."""
        self.secret_encrypted = encrypt(plaintext)

    def secret_value(self) -> str:
        """The secret's plaintext (``""``: none). Raises ``SecretUnreadable`` when no
        configured key decrypts it."""
        return decrypt(self.secret_encrypted)
