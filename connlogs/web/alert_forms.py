"""The alerts page's rule form: the choices the user's role allows, and its answers as the
``data`` that ``connlogs.alerts.editing.apply`` checks (the API's checks, the same function)."""

from __future__ import annotations

from django import forms

from connlogs import roles, unread
from connlogs.alerts import editing
from connlogs.alerts.models import MAX_NAME, AlertRule, Channel, RuleKind
from connlogs.models import Organization
from connlogs.savedviews.access import visible_views
from connlogs.savedviews.models import MAX_Q
from connlogs.savedviews.presets import PRESETS
from connlogs.web.forms import refuse_new_and_removed_secret

ALL_ORGANIZATIONS = ""


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME)
    kind = forms.ChoiceField(choices=RuleKind.choices, label="Fires on")
    q = forms.CharField(
        max_length=MAX_Q, required=False, label="Search (q)", help_text="Or pick a saved view."
    )
    view = forms.ChoiceField(required=False, label="Saved view")
    organization = forms.ChoiceField(required=False)
    threshold = forms.IntegerField(initial=1, label="At least N matches (threshold)")
    window_minutes = forms.IntegerField(initial=5, label="Within W minutes (threshold)")
    new_address_days = forms.IntegerField(initial=30, label="Days looked back (new address)")
    cooldown_minutes = forms.IntegerField(initial=0, label="Cooldown (minutes)")
    channel = forms.ChoiceField(choices=Channel.choices, label="Notify by")
    url = forms.CharField(max_length=2000, required=False, label="Webhook URL")
    secret = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="HMAC key (webhook)",
        help_text="Write-only: leave blank to keep the one stored.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored HMAC key")
    email_to = forms.CharField(max_length=5000, required=False, label="Email addresses")
    paused = forms.BooleanField(required=False)

    def __init__(self, *args, user: roles.User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        saved = [(str(v.pk), v.name) for v in visible_views(user).order_by("name", "id")]
        built_in = [(key, preset.name) for key, preset in PRESETS.items()]
        self.fields["view"].choices = [("", "(none: the search above)")] + saved + built_in
        administered = roles.administered_organization_ids(user)
        organizations = Organization.objects.order_by("name")
        if administered is not None:
            organizations = organizations.filter(id__in=administered)
        choices = [(str(o.pk), o.name) for o in organizations]
        if administered is None:
            choices.insert(0, (ALL_ORGANIZATIONS, "All organizations"))
        self.fields["organization"].choices = choices

    @classmethod
    def initial_of(cls, rule: AlertRule) -> dict:
        """The form's initial values for an existing rule (never its secret)."""
        initial = {name: getattr(rule, name) for name in cls.base_fields if hasattr(rule, name)}
        initial.pop("secret", None)
        initial["organization"] = str(rule.organization_id) if rule.organization_id else ""
        return initial

    def clean(self):
        cleaned = super().clean()
        refuse_new_and_removed_secret(self, "clear_secret")
        return cleaned

    def rule_data(self) -> dict:
        """The cleaned answers as ``editing.apply``'s ``data``."""
        data = dict(self.cleaned_data)
        organization = data.pop("organization")
        data["organization"] = Organization.objects.get(pk=organization) if organization else None
        clear, secret = data.pop("clear_secret"), data.pop("secret")
        if clear or secret:
            data["secret"] = "" if clear else secret
        # The form always holds every kind's number (each has a default); those the kind
        # chosen does not read are not sent. A URL, addresses or a key typed for a channel
        # that does not read them are sent, and refused in the API's words.
        for name in unread.unread_of(editing.KIND_FIELDS, data.get("kind")):
            data.pop(name, None)
        return data
