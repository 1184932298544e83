"""The sign-in form: Django's, by username or email, with the API's lockout counters."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from connlogs import throttle
from connlogs.models import User


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, by username or email, with the API's lockout counters."""

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
        self.retry_after = 0

    def _account(self, identifier: str) -> tuple[str, User | None]:
        """The throttle's account key (the email, as the API uses) and the account."""
        if "@" in identifier:
            account = User.objects.filter(email=identifier.strip().lower()).first()
        else:
            account = User.objects.filter(username__iexact=identifier.strip()).first()
        return (account.email if account else identifier), account

    def clean(self):
        identifier = self.cleaned_data.get("username") or ""
        key, account = self._account(identifier)
        address = throttle.client_address(self.request)
        wait = throttle.retry_after(key, address)
        if wait:
            self.retry_after = wait
            raise ValidationError(throttle.lockout_message(wait), code="locked_out")
        if account is not None:
            # Django authenticates by username; an email was mapped to its account above.
            self.cleaned_data["username"] = account.username
        try:
            super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                throttle.record_failure(key, address)
            raise
        throttle.record_success(key, address)
        return self.cleaned_data
