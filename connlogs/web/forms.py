"""The sign-in forms: Django's, by username or email, saying so when the lockout refuses.

The password check and the lockout are the authentication backend's (``connlogs.signin``),
shared with the API and the admin; these forms only word the answer.
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from connlogs import signin, throttle


class LockoutMessageMixin:
    """After a refused try, the lockout's sentence and wait instead of "incorrect password"."""

    retry_after = 0

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            wait = signin.retry_after(self.request)
            if wait:
                self.retry_after = wait
                raise ValidationError(throttle.lockout_message(wait), code="locked_out") from None
            raise


class ThrottledAuthenticationForm(LockoutMessageMixin, AuthenticationForm):
    """The ``/login`` page's form: username or email, and the lockout's sentence."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Incorrect username, email or password.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = "Username or email"
        field.max_length = 254
        field.widget.attrs.update({"maxlength": 254, "autocomplete": "username"})


class ThrottledAdminAuthenticationForm(LockoutMessageMixin, AdminAuthenticationForm):
    """``/admin/login/``: the admin's own form (owners only), and the lockout's sentence."""
