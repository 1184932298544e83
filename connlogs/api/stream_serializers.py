"""Streams over the API: the request body, and the JSON of a stream (secrets never shown)."""

from __future__ import annotations

from rest_framework import serializers

from connlogs import destinations, unread
from connlogs.api.saved_view_serializers import ViewOwnerSerializer
from connlogs.api.serializers import JsonBodySerializer, OrganizationRefSerializer
from connlogs.api.text import Text, secret_text
from connlogs.savedviews.models import MAX_Q
from connlogs.streams.models import MAX_NAME, Stream, StreamKind

MAX_BATCH = 5000
START_NOW, START_OLDEST = "now", "oldest"
HTTP_KINDS = {StreamKind.HTTP, StreamKind.SPLUNK_HEC}


class WatchedSearchBody(JsonBodySerializer):
    """The fields of a body that watches rows (a stream, an alert rule): its search (``q``
    or a saved ``view``) and the organization it is narrowed to."""

    refuse_unknown_fields = True
    reference_fields = ("organization",)

    q = Text(
        max_length=MAX_Q, allow_blank=True, required=False, help_text="The search; '' is all rows."
    )
    view = Text(
        max_length=64,
        allow_blank=True,
        required=False,
        help_text="A saved view's id or a built-in view's key, in place of q.",
    )
    organization = Text(
        allow_null=True,
        required=False,
        help_text="Only this organization's rows (UUID or name). Required for organization "
        "admins; null (every organization): site owners only.",
    )


class StreamBodySerializer(WatchedSearchBody):
    """A stream to create (``name`` and ``kind`` required) or the fields to change."""

    def read_back_fields(self):
        return StreamSerializer().fields

    name = Text(max_length=MAX_NAME)
    kind = serializers.ChoiceField(choices=StreamKind.values)
    url = Text(
        max_length=2000,
        allow_blank=True,
        required=False,
        validators=[destinations.http_url],
        help_text="http and splunk_hec: where batches are POSTed "
        "(HEC: …/services/collector/event).",
    )
    host = Text(
        max_length=255,
        allow_blank=True,
        required=False,
        validators=[destinations.host],
        help_text="syslog: the receiver (a host name or an IP address).",
    )
    port = serializers.IntegerField(
        min_value=1, max_value=65535, allow_null=True, required=False, help_text="syslog."
    )
    secret = secret_text(
        "splunk_hec: the HEC token (required); http: the HMAC-SHA256 key of the "
        "X-Connlogs-Signature header (optional). Write-only: never shown again."
    )
    tls_ca = Text(
        max_length=100_000,
        allow_blank=True,
        required=False,
        validators=[destinations.pem_certificates],
        help_text="syslog_tls: PEM certificates to trust ('' = the system's).",
    )
    batch_size = serializers.IntegerField(min_value=1, max_value=MAX_BATCH, required=False)
    paused = serializers.BooleanField(required=False)
    pseudonymised = serializers.BooleanField(
        required=False,
        help_text="Data protection mode: send protected rows with pseudonyms (default). Only a "
        "site owner who may see identities may turn it off.",
    )
    start = serializers.ChoiceField(
        choices=[START_NOW, START_OLDEST],
        required=False,
        help_text="On create: deliver changes from now on (default) or from the oldest kept.",
    )


# What each kind reads; a body that sets another kind's field is refused (``unused_errors``).
KIND_FIELDS = {
    StreamKind.HTTP: ("url", "secret"),
    StreamKind.SPLUNK_HEC: ("url", "secret"),
    StreamKind.SYSLOG_TCP: ("host", "port"),
    StreamKind.SYSLOG_UDP: ("host", "port"),
    StreamKind.SYSLOG_TLS: ("host", "port", "tls_ca"),
}


def unused_errors(kind: str, data: dict, stored: dict) -> dict[str, str]:
    """A field ``data`` sets that a stream of ``kind`` never reads (``KIND_FIELDS``), by
    field: a ``url`` on a syslog stream was stored and ignored (``unread.set_unread``)."""
    unused = unread.unread_of(KIND_FIELDS, kind)
    detail = f'Not read by streams of kind "{kind}".'
    return {name: detail for name in unread.set_unread(unused, data, stored)}


def destination_errors(stream: Stream) -> dict[str, str]:
    """What ``stream``'s destination lacks, by field: empty when it can be delivered."""
    errors = {}
    if stream.kind in HTTP_KINDS and not stream.url:
        errors["url"] = f'A "{stream.kind}" stream needs a URL.'
    if stream.kind not in HTTP_KINDS and not (stream.host and stream.port):
        errors["host" if not stream.host else "port"] = "A syslog stream needs a host and port."
    if stream.kind == StreamKind.SPLUNK_HEC and not stream.has_secret:
        errors["secret"] = "A Splunk HEC stream needs its token."
    return errors


# --- schema only (``stream_json`` builds the JSON) ------------------------------------------


class StreamHealthSerializer(serializers.Serializer):
    cursor = serializers.IntegerField(help_text="The last feed seq the receiver took.")
    latest_seq = serializers.IntegerField()
    lag_records = serializers.IntegerField(help_text="Feed entries after the cursor.")
    lag_seconds = serializers.FloatField(help_text="Age of the oldest of them.")
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = Text(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    failures = serializers.IntegerField(help_text="Failed attempts since the last success.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_last_hour = serializers.IntegerField()
    delivering = serializers.BooleanField(help_text="A worker holds the stream now.")


class StreamSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = Text()
    kind = serializers.ChoiceField(choices=StreamKind.values)
    url = Text()
    host = Text()
    port = serializers.IntegerField(allow_null=True)
    secret_set = serializers.BooleanField(help_text="A secret is stored (it is never shown).")
    tls_ca = Text()
    q = Text()
    view = Text()
    organization = OrganizationRefSerializer(allow_null=True)
    created_by = ViewOwnerSerializer()
    batch_size = serializers.IntegerField()
    paused = serializers.BooleanField()
    pseudonymised = serializers.BooleanField(
        help_text="Protected rows are sent with pseudonyms (data protection mode)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    health = StreamHealthSerializer()


class StreamListSerializer(serializers.Serializer):
    streams = StreamSerializer(many=True)
