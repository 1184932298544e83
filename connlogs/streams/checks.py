"""``manage.py check`` for the streams' secrets key: a malformed ``CONNLOGS_SECRETS_KEY`` is an
error at start (not a failure at the first delivery); with ``--deploy``, running on the key
derived from ``SECRET_KEY`` is a warning (docs/deployment.md, "Streams' secrets key")."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from connlogs.streams import secrets


@checks.register(checks.Tags.security)
def secrets_key_is_valid(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """connlogs.E101: a key of ``CONNLOGS_SECRETS_KEY`` is not a Fernet key."""
    try:
        secrets.encrypt("check")
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="connlogs.E101")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def secrets_key_is_set(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """connlogs.W101: no ``CONNLOGS_SECRETS_KEY`` (the key is derived from ``SECRET_KEY``)."""
    if settings.CONNLOGS_SECRETS_KEY:
        return []
    return [
        checks.Warning(
            "CONNLOGS_SECRETS_KEY is not set: streams' secrets are encrypted with a key "
            "derived from SECRET_KEY, and changing SECRET_KEY makes them unreadable.",
            hint="Set CONNLOGS_SECRETS_KEY to a Fernet key of its own (docs/deployment.md).",
            id="connlogs.W101",
        )
    ]
