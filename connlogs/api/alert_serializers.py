"""Alert rules over the API: the request body, and the JSON of a rule and of a firing (the
webhook's secret never shown)."""

from __future__ import annotations

from rest_framework import serializers

from connlogs.alerts.models import MAX_NAME, Channel, FiringStatus, RuleKind
from connlogs.api.saved_view_serializers import ViewOwnerSerializer
from connlogs.api.serializers import OrganizationRefSerializer
from connlogs.api.stream_serializers import WatchedSearchBody
from connlogs.api.text import Text, secret_text
from connlogs.streams.models import StreamKind

# The streams API lists its ``kind`` by value: named here for the schema's enum overrides
# (settings), so that it and a rule's ``kind`` each keep a plain name.
STREAM_KIND_VALUES = StreamKind.values


class AlertRuleBodySerializer(WatchedSearchBody):
    """A rule to create (``name``, ``kind`` and ``channel`` required) or the fields to change.
    The ranges of the numbers are checked with the rest of the rule (``alerts.editing``)."""

    def read_back_fields(self):
        return AlertRuleSerializer().fields

    name = Text(max_length=MAX_NAME)
    kind = serializers.ChoiceField(
        choices=RuleKind.choices,
        help_text="each_match: every new matching row; threshold: at least `threshold` rows "
        "within `window_minutes`; new_address: rows from an IP the workspace owner has not "
        "connected from in `new_address_days`.",
    )
    threshold = serializers.IntegerField(required=False, help_text="threshold: N (1-10000).")
    window_minutes = serializers.IntegerField(
        required=False, help_text="threshold: W minutes (1-1440)."
    )
    new_address_days = serializers.IntegerField(
        required=False, help_text="new_address: days looked back (1-366; default 30)."
    )
    cooldown_minutes = serializers.IntegerField(
        required=False,
        help_text="Minutes after a firing during which matching rows do not fire (0-10080).",
    )
    channel = serializers.ChoiceField(choices=Channel.values)
    url = Text(
        max_length=2000,
        allow_blank=True,
        required=False,
        help_text="webhook and slack: where the notification is POSTed.",
    )
    secret = secret_text(
        "webhook: the HMAC-SHA256 key of the X-Connlogs-Signature header "
        "(optional). Write-only: never shown again."
    )
    email_to = Text(
        max_length=5000,
        allow_blank=True,
        required=False,
        help_text="email: comma-separated addresses.",
    )
    paused = serializers.BooleanField(required=False)


# --- schema only (``rule_json`` and ``firing_json`` build the JSON) ---------------------------


class AlertRuleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = Text()
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    q = Text()
    view = Text()
    organization = OrganizationRefSerializer(allow_null=True)
    created_by = ViewOwnerSerializer()
    threshold = serializers.IntegerField()
    window_minutes = serializers.IntegerField()
    new_address_days = serializers.IntegerField()
    cooldown_minutes = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=Channel.values)
    url = Text()
    secret_set = serializers.BooleanField(help_text="A secret is stored (it is never shown).")
    email_to = Text()
    paused = serializers.BooleanField()
    cursor = serializers.IntegerField(help_text="The last feed seq evaluated.")
    cooldown_until = serializers.DateTimeField(allow_null=True)
    last_fired_at = serializers.DateTimeField(allow_null=True)
    last_error = Text(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AlertRuleListSerializer(serializers.Serializer):
    rules = AlertRuleSerializer(many=True)


class AlertFiringSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    rule = serializers.DictField(help_text='{"id", "name"}')
    fired_at = serializers.DateTimeField()
    match_count = serializers.IntegerField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    log_ids = serializers.ListField(child=serializers.UUIDField(), help_text="The rows matched.")
    status = serializers.ChoiceField(choices=FiringStatus.values)
    attempts = serializers.IntegerField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_error = Text(allow_null=True)
    link = Text(help_text="The list page filtered to exactly these rows.")


class AlertFiringListSerializer(serializers.Serializer):
    firings = AlertFiringSerializer(many=True)
