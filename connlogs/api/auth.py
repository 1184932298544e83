"""API authentication: a session or API token from the header, the cookie or a bearer."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from connlogs import tokens
from connlogs.api.errors import SIGNED_OUT
from connlogs.models import User

TOKEN_HEADER = "HTTP_CODER_SESSION_TOKEN"
TOKEN_COOKIE = "coder_session_token"
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)


def token_from_request(request) -> str:
    key = request.META.get(TOKEN_HEADER) or request.COOKIES.get(TOKEN_COOKIE)
    if key:
        return key.strip()
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return ""


def touch_last_seen(user: User) -> None:
    """Record activity at most once a minute, not one write per request."""
    now = timezone.now()
    if user.last_seen_at is None or now - user.last_seen_at >= LAST_SEEN_RESOLUTION:
        User.objects.filter(pk=user.pk).update(last_seen_at=now)
        user.last_seen_at = now


class SessionTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = token_from_request(request)
        if not key:
            return None
        token = tokens.find(key)
        if token is None:
            raise AuthenticationFailed(SIGNED_OUT)
        touch_last_seen(token.user)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="connlogs"'
