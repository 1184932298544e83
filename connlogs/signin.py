"""The one place a password is checked: Django's authentication backend, with the lockout.

Every door that checks a password calls ``django.contrib.auth.authenticate`` (the API's
``POST /api/v2/users/login``, the ``/login`` page, ``/admin/login/`` and the old password of
``/admin/password_change/``), and this backend
(``AUTHENTICATION_BACKENDS``) answers all of them, so they share one lockout
(``connlogs.throttle``) and one cost:

* a try is reserved on the shared counter before any password is checked; a refused try
  checks nothing, and the door reads the wait with ``retry_after(request)``;
* an account that does not exist costs one run of the password hasher, like one that does
  (Django's own pattern in ``ModelBackend.authenticate``, ticket #20760), so the answer's
  time does not tell whether an email or username is registered.

People sign in by username or by email (anything with an ``@``); the lockout counts per
account (by its email, whichever was typed) and per client address.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Lower

from connlogs import throttle
from connlogs.models import User

_RETRY_AFTER = "_connlogs_sign_in_retry_after"


def find_account(identifier: str) -> User | None:
    """The account signed in as ``identifier``: an email (exact, lower-cased) or a username
    (case-insensitive, through the ``lower(username)`` unique index); ``None`` if none."""
    identifier = (identifier or "").strip()
    if not identifier or "\x00" in identifier:
        return None  # PostgreSQL refuses NUL in text; no account has one
    if "@" in identifier:
        return User.objects.filter(email=identifier.lower()).first()
    users = User.objects.annotate(username_lower=Lower("username"))
    return users.filter(username_lower=identifier.lower()).first()


def retry_after(request) -> int:
    """Seconds to wait when ``authenticate`` just refused ``request`` for the lockout, else 0."""
    return getattr(request, _RETRY_AFTER, 0) if request is not None else 0


class ThrottledModelBackend(ModelBackend):
    """``ModelBackend`` by username or email, behind the shared sign-in lockout.

    Raises ``PermissionDenied`` (which makes ``authenticate`` return ``None`` at once) when
    the lockout refuses the try, after noting the wait on the request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        identifier = username if username is not None else kwargs.get("email")
        if identifier is None or password is None:
            return None
        account = find_account(identifier)
        counted_as = account.email if account is not None else identifier
        address = throttle.client_address(request) if request is not None else ""
        reservation = throttle.reserve(counted_as, address)
        if not reservation.allowed:
            if request is not None:
                setattr(request, _RETRY_AFTER, reservation.retry_after)
            raise PermissionDenied
        if account is None:
            # Same cost as a real check (see the module's docstring).
            User().set_password(password)
            return None
        if account.check_password(password) and self.user_can_authenticate(account):
            throttle.succeeded(counted_as, address)
            return account
        return None
