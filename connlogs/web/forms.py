"""The forms that check a password: Django's, saying so when the lockout refuses.

The password check and the lockout are the authentication backend's (``connlogs.signin``),
shared by the API, the sign-in page, the admin's sign-in and the admin's password change
(whose old password is a password check too); these forms only word the answer.

Also the one rule the pages' forms that hold a secret (alert rules, streams) share:
``refuse_new_and_removed_secret``.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import PasswordChangeView
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


class ThrottledPasswordChangeForm(AdminPasswordChangeForm):
    """``/admin/password_change/``: the old password is checked through ``authenticate``,
    behind the same lockout (Django's form would call ``check_password`` directly)."""

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.username, password=old_password)
        if checked is None or checked.pk != self.user.pk:
            wait = signin.retry_after(self.request)
            if wait:
                raise ValidationError(throttle.lockout_message(wait), code="locked_out")
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class ThrottledPasswordChangeView(PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "request": self.request}


def refuse_new_and_removed_secret(form: forms.Form, remove_field: str) -> None:
    """A new secret typed and "remove the secret" ticked at once is an error on the form: the
    two forms used to settle it in opposite ways (the rule's dropped the new key, the
    stream's kept it), each without a word."""
    if form.cleaned_data.get("secret") and form.cleaned_data.get(remove_field):
        form.add_error(remove_field, "Type a new secret or remove the stored one, not both.")
