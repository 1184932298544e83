"""Writes that ride on a browser's cookie must come from this site.

A browser sends the ``coder_session_token`` cookie with any request to us, also one that a
page on another site (a sibling subdomain included) makes it send by submitting a form. So
an unsafe request (POST, PUT, PATCH, DELETE) authenticated by that cookie is accepted only
when it proves it comes from our own pages, by the rules of Django's CSRF protection (and
OWASP's "verifying origin with standard headers"):

1. an ``Origin`` header, when present, must be this server's origin (scheme and host) or one
   of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` allows subdomains, as in Django);
2. without ``Origin``, a ``Referer`` must be of such an origin;
3. with neither, Django's CSRF token must be sent (the ``csrftoken`` cookie and the
   ``X-CSRFToken`` header).

Requests authenticated by the ``Coder-Session-Token`` header or ``Authorization: Bearer``
(Coder's CLI and agents) need none of this: another site cannot make a browser send them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain
from rest_framework import status
from rest_framework.authentication import CSRFCheck

from connlogs.api.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CROSS_SITE = (
    "Cross-site request refused: a change made with the session cookie must come from this "
    "site's own pages (a matching Origin or Referer header, or a CSRF token). Scripts and "
    "tools send the Coder-Session-Token header instead."
)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def is_trusted_origin(request, origin: str) -> bool:
    """``origin`` (``scheme://host[:port]``) is ours or one of ``CSRF_TRUSTED_ORIGINS``."""
    origin = (origin or "").lower()
    if not origin or origin == "null":
        return False
    scheme = "https" if request.is_secure() else "http"
    if origin == f"{scheme}://{request.get_host()}".lower():
        return True
    parts = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted = trusted.lower()
        if "*" not in trusted:
            if origin == trusted:
                return True
            continue
        pattern = urlsplit(trusted)
        if parts.scheme == pattern.scheme and is_same_domain(
            parts.netloc, pattern.netloc.lstrip("*")
        ):
            return True
    return False


def _has_csrf_token(request) -> bool:
    django_request = getattr(request, "_request", request)
    check = CSRFCheck(lambda _: None)
    check.process_request(django_request)
    return check.process_view(django_request, None, (), {}) is None


def from_this_site(request, *, proof_required: bool) -> bool:
    """Whether ``request`` comes from our own pages (the rules in the module docstring).

    With ``proof_required`` false, a request that names no origin at all (no ``Origin``,
    no ``Referer``: a script, not a browser) passes without a CSRF token.
    """
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        return is_trusted_origin(request, origin)
    referer = request.META.get("HTTP_REFERER")
    if referer:
        return is_trusted_origin(request, _origin_of(referer))
    return not proof_required or _has_csrf_token(request)


def refuse_cross_site(request, *, proof_required: bool = True) -> None:
    """403 in the contract's shape for an unsafe request that is not ``from_this_site``."""
    if request.method in SAFE_METHODS:
        return
    if not from_this_site(request, proof_required=proof_required):
        raise ApiError(CROSS_SITE, status_code=status.HTTP_403_FORBIDDEN)
