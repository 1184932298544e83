"""API authentication: a session or API token from the header, the cookie or a bearer.

A write authenticated by the cookie must come from this site (``connlogs.api.origin``).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from connlogs import tokens
from connlogs.api import origin
from connlogs.api.errors import SIGNED_OUT
from connlogs.models import User

TOKEN_HEADER = "HTTP_CODER_SESSION_TOKEN"
TOKEN_COOKIE = "coder_session_token"
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)


def token_and_source(request) -> tuple[str, str]:
    """The token a request carries and where: ``"header"``, ``"cookie"`` or ``"bearer"``
    (``("", "")`` without one). The header wins over the cookie, the cookie over a bearer."""
    header = request.META.get(TOKEN_HEADER)
    if header:
        return header.strip(), "header"
    cookie = request.COOKIES.get(TOKEN_COOKIE)
    if cookie:
        return cookie.strip(), "cookie"
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), "bearer"
    return "", ""


def token_from_request(request) -> str:
    return token_and_source(request)[0]


def touch_last_seen(user: User) -> None:
    """Record activity at most once a minute, not one write per request."""
    now = timezone.now()
    if user.last_seen_at is None or now - user.last_seen_at >= LAST_SEEN_RESOLUTION:
        User.objects.filter(pk=user.pk).update(last_seen_at=now)
        user.last_seen_at = now


class SessionTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key, source = token_and_source(request)
        if not key:
            return None
        if source == "cookie":
            # A browser sends the cookie wherever the request comes from (connlogs.api.origin).
            origin.refuse_cross_site(request)
        token = tokens.find(key)
        if token is None:
            raise AuthenticationFailed(SIGNED_OUT)
        touch_last_seen(token.user)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="connlogs"'
