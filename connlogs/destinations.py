"""What an outbound destination (a stream's receiver, an alert rule's webhook) must be, checked
when it is saved so that a typo is a 400 naming the field, not a delivery that fails forever.

* ``http_url``: an ``http``/``https`` URL (Django's ``URLValidator``) whose port, if given, is
  1-65535 (the validator's pattern takes any five digits: ``:99999`` failed only when sent),
  without a user name or password: a URL is stored and shown as typed, while secrets are
  encrypted and never shown (docs/streams.md, "Secrets"), and the HTTP library would have
  sent them as Basic authentication;
* ``host``: a host name (RFC 1123 labels) or an IP address, bare (no brackets, no port);
* ``pem_certificates``: text the TLS library loads as trusted certificates.

Each raises Django's ``ValidationError`` with a sentence for the user. ``receiver`` names
where a destination sends, for the access log.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?", re.IGNORECASE)
_URL = URLValidator(schemes=["http", "https"])


def http_url(value: str) -> None:
    """An http(s) URL a receiver can be reached at; ``ValidationError`` otherwise."""
    _URL(value)
    try:
        port = urlsplit(value).port  # ValueError past 65535
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError("The URL's port must be 1 to 65535.")
    if "@" in urlsplit(value).netloc:
        raise ValidationError(
            "The URL must not hold a user name or password (a URL is stored and shown as "
            "typed): connlogs proves itself to a receiver with the secret instead (an HMAC "
            "signature, a HEC token), which is encrypted and never shown."
        )


def host(value: str) -> None:
    """A host name or an IP address; ``ValidationError`` otherwise."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a host name or an IP address (no brackets, no port: the port "
            "is its own field)."
        )


def pem_certificates(value: str) -> None:
    """PEM text holding at least one certificate TLS can trust; ``ValidationError``
    otherwise."""
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: text that is not ASCII
        raise ValidationError("Not PEM certificates (-----BEGIN CERTIFICATE----- …).") from None


def receiver(url: str = "", host: str = "", port: int | None = None) -> str:
    """Where a destination sends, as the access log names it: ``host:port`` of ``url`` (never
    its path, query or credentials), else ``host:port`` of a syslog receiver."""
    if url:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        host = parts.hostname or ""
    if not host:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host
