"""The stream form of the streams pages: fields to show and read, no rules of its own.

The rules are the API's, whole: ``save_stream`` turns the posted fields into the API's body,
checks it with ``StreamBodySerializer`` and applies it with ``connlogs.api.stream_rules``
(the same scoping, destination and search checks), and puts each refusal next to its field.

The secret is write-only here too: a password input never filled back in; left empty it
keeps the current secret, "Remove the secret" removes it.
"""

from __future__ import annotations

from django import forms
from rest_framework.exceptions import PermissionDenied

from connlogs import roles, values
from connlogs.api import stream_rules
from connlogs.api.errors import ApiError
from connlogs.api.stream_serializers import START_NOW, START_OLDEST, StreamBodySerializer
from connlogs.models import Organization
from connlogs.privacy.shown_query import ShownQuery
from connlogs.savedviews import access as view_access
from connlogs.savedviews.presets import PRESETS
from connlogs.streams import access
from connlogs.streams.models import Stream, StreamKind
from connlogs.web.forms import refuse_new_and_removed_secret
from connlogs.web.viewsmenu import MENU_LIMIT

ALL_ORGANIZATIONS = ""
TEXT_FIELDS = ("name", "kind", "url", "host", "tls_ca", "q", "view")
NUMBER_FIELDS = ("port", "batch_size")
START_CHOICES = [
    (START_NOW, "From now on"),
    (START_OLDEST, "From the oldest change the feed keeps"),
]


def _text(**attrs) -> forms.CharField:
    # Every field is read as text: what is valid is the serializer's and the rules' to say.
    return forms.CharField(required=False, strip=False, **attrs)


class StreamForm(forms.Form):
    """``stream=None``: a new stream (with "start"); else that stream's values, secret
    aside. ``user`` chooses the organizations and views offered."""

    name = _text(widget=forms.TextInput(attrs={"autocomplete": "off"}))
    kind = _text(widget=forms.Select(choices=StreamKind.choices))
    url = _text(
        label="URL", help_text="HTTP and Splunk HEC: where batches are POSTed (HEC: …/event)."
    )
    host = _text(help_text="Syslog: the receiver's host.")
    port = _text(help_text="Syslog: the receiver's port.")
    secret = _text(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Splunk HEC: the token (required). HTTP: the HMAC-SHA256 key of the "
        "X-Connlogs-Signature header (optional). Never shown again.",
    )
    remove_secret = forms.BooleanField(required=False, label="Remove the secret")
    tls_ca = _text(
        label="TLS CA (PEM)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Syslog over TLS: certificates to trust (empty: the system's).",
    )
    q = _text(label="Search (q)", help_text="Which rows the stream receives; empty is all.")
    view = _text(label="Or a saved view")
    organization = _text()
    batch_size = _text(help_text="Records per batch (1 to 5,000).")
    pseudonymised = forms.BooleanField(
        required=False,
        initial=True,
        label="Send pseudonyms for people and addresses (data protection mode)",
        help_text="Only a site owner who may see identities may turn this off.",
    )
    start = _text(widget=forms.RadioSelect(choices=START_CHOICES))

    def __init__(self, *args, user: roles.User, stream: Stream | None = None, **kwargs):
        self.user, self.stream = user, stream
        initial = _initial(stream) if stream else {"kind": StreamKind.HTTP, "start": START_NOW}
        if stream is not None:
            # As the API shows it: stand-ins for real names to a reader shown pseudonyms (an
            # unchanged q is not sent back, so the stored one stays).
            initial["q"] = ShownQuery.for_viewer(user).render(stream.q)
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["organization"].widget = forms.Select(choices=_organizations(user))
        self.fields["view"].widget = forms.Select(choices=_views(user, stream))
        if not access.may_send_identities(user):
            del self.fields["pseudonymised"]  # theirs to keep as it is, not to choose
        if stream is None:
            del self.fields["remove_secret"]
        else:
            del self.fields["start"]
            self.fields["secret"].help_text = (
                "A secret is set: leave empty to keep the current secret."
                if stream.has_secret
                else "No secret is set. " + self.fields["secret"].help_text
            )

    def clean(self):
        cleaned = super().clean()
        refuse_new_and_removed_secret(self, "remove_secret")
        return cleaned

    def body(self) -> dict:
        """The API's body for the posted fields (``cleaned_data``: text). Editing, only the
        fields changed, as a PATCH: a new ``q`` alone replaces the view, a new view alone the
        ``q``, and a view the editor may not open stays while they leave it alone."""
        data = self.cleaned_data
        if self.stream is not None:
            data = {name: value for name, value in data.items() if value != self.initial.get(name)}
        body = {name: data[name] for name in TEXT_FIELDS if name in data}
        if "name" in body:
            body["name"] = body["name"].strip()
        for name in NUMBER_FIELDS:
            text = data.get(name, "").strip()
            if text:
                body[name] = _number(text)
            elif name == "port" and name in data:
                body["port"] = None
        if "organization" in data:
            body["organization"] = data["organization"] or None
        if "pseudonymised" in data:
            body["pseudonymised"] = data["pseudonymised"]
        if data.get("secret"):
            body["secret"] = data["secret"]
        elif data.get("remove_secret"):
            body["secret"] = ""
        if self.stream is None:
            body["start"] = data["start"] or START_NOW
        return body


def _number(text: str) -> int | str:
    # The API's body takes JSON numbers: a form's digits become one; anything else goes as
    # typed, for the serializer to refuse in its own words.
    sign = -1 if text.startswith("-") else 1
    number = values.whole_number(text.removeprefix("-"), 10**9)
    return text if number is None else sign * number


def save_stream(request, form: StreamForm) -> Stream | None:
    """Create or change the form's stream through the API's rules; ``None`` when they refuse
    (the reasons are then on the form, by field)."""
    if not form.is_valid():
        return None
    checked = StreamBodySerializer(data=form.body(), partial=form.stream is not None)
    if not checked.is_valid():
        for field, errors in checked.errors.items():
            _add_error(form, field, " ".join(str(error) for error in errors))
        return None
    try:
        if form.stream is None:
            return stream_rules.create_stream(request, checked.validated_data)
        return stream_rules.apply_changes(request, form.stream, checked.validated_data)
    except ApiError as refused:
        for validation in refused.body.get("validations", []):
            _add_error(form, validation["field"], validation["detail"])
        if "validations" not in refused.body:
            form.add_error(None, refused.body["message"])
    except PermissionDenied as refused:
        form.add_error("organization", str(refused.detail))
    return None


def _add_error(form: StreamForm, field: str, detail: str) -> None:
    # A search's validation names its key (``type``, ``organization`` …): it belongs to q,
    # except the body's own fields.
    if field not in form.fields:
        field = "q" if field else None
    form.add_error(field, detail)


def _initial(stream: Stream) -> dict:
    return {
        **{name: getattr(stream, name) for name in TEXT_FIELDS},
        "port": "" if stream.port is None else str(stream.port),
        "batch_size": str(stream.batch_size),
        "organization": str(stream.organization_id or ALL_ORGANIZATIONS),
        "pseudonymised": stream.pseudonymised,
    }


def _organizations(user: roles.User) -> list[tuple[str, str]]:
    """The organizations ``user`` may stream: every one (and all of them) for site owners,
    those they administer for organization admins."""
    administered = roles.administered_organization_ids(user)
    organizations = Organization.objects.order_by("name")
    if administered is not None:
        return [(str(org.id), org.name) for org in organizations.filter(id__in=administered)]
    return [(ALL_ORGANIZATIONS, "Every organization")] + [
        (str(org.id), org.name) for org in organizations
    ]


def _views(user: roles.User, stream: Stream | None) -> list[tuple[str, str]]:
    """The views ``user`` may open, and the one ``stream`` follows even if they may not (so
    the form shows it, and keeps it while left alone)."""
    saved = view_access.visible_views(user).order_by("name")[:MENU_LIMIT]
    choices = (
        [("", "None: the search above")]
        + [(preset.key, f"{preset.name} (built in)") for preset in PRESETS.values()]
        + [(str(view.id), view.name) for view in saved]
    )
    if stream and stream.view and stream.view not in {key for key, _ in choices}:
        choices.append((stream.view, "The stream's current view (not one you can open)"))
    return choices
