"""``POST /api/v2/connectionlog/events``: agents and gateways report connection events.

The view only checks who is calling and the envelope of the body; validation and the
merging rules live in ``connlogs.ingest.record_events``, the single writer of log rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import idempotency, ingest, metrics
from connlogs.api.errors import ApiError
from connlogs.api.parsers import BoundedJSONParser
from connlogs.api.permissions import MayReportEvents
from connlogs.api.serializers import ErrorSerializer, ValidationSerializer
from connlogs.models import ConnectionType
from connlogs.search import Validation

INVALID_EVENTS = "Invalid connection events."


def _cut_note(limit: int) -> str:
    return (
        f"At most {limit} characters are kept: longer text is cut to {limit}, the row is "
        "marked as truncated and the answer warns."
    )


class EventSerializer(serializers.Serializer):
    """The schema of one event; ``record_events`` does the validating."""

    action = serializers.ChoiceField(choices=[ingest.CONNECT, ingest.DISCONNECT])
    time = serializers.DateTimeField(
        help_text=(
            "RFC 3339, ASCII digits. At most CONNLOGS_MAX_CLOCK_SKEW (default 24 hours) "
            "ahead of the server's clock; any past time is accepted."
        )
    )
    type = serializers.ChoiceField(choices=ConnectionType.values)
    workspace_id = serializers.UUIDField()
    agent_name = serializers.CharField(min_length=1, max_length=ingest.MAX_AGENT_NAME)
    connection_id = serializers.UUIDField(
        required=False, help_text="Required for the four agent types; refused for web types."
    )
    ip = serializers.CharField(
        required=False,
        help_text=(
            'IPv4 or IPv6; "localhost" is stored as 127.0.0.1. A port, brackets and a zone '
            "are dropped (`[::1]:80` is ::1), an IPv4-mapped address is stored as IPv4. "
            "Text that is no address is stored as unknown, with a warning."
        ),
    )
    reason = serializers.CharField(
        required=False,
        help_text=f"Agent types, disconnect only. {_cut_note(ingest.MAX_TEXT)}",
    )
    exit_code = serializers.IntegerField(
        required=False, help_text="Agent types, disconnect only; 0 is a real value."
    )
    user_id = serializers.UUIDField(
        required=False, help_text="Web types: the requesting user; missing = unauthenticated."
    )
    user_agent = serializers.CharField(
        required=False, help_text=f"Web types. {_cut_note(ingest.MAX_TEXT)}"
    )
    slug_or_port = serializers.CharField(
        required=False, help_text=f"Web types. {_cut_note(ingest.MAX_SLUG_OR_PORT)}"
    )
    status_code = serializers.IntegerField(
        required=False, min_value=100, max_value=599, help_text="Web types; missing = 200."
    )


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=EventSerializer(),
        min_length=1,
        max_length=settings.CONNLOGS_MAX_EVENTS,
        help_text="1 to 1000 events, applied all or none.",
    )


class RecordResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Events that created a row.")
    updated = serializers.IntegerField(help_text="Events that filled a row's disconnect.")
    unchanged = serializers.IntegerField(help_text="Events that changed nothing (repeats).")
    warnings = ValidationSerializer(
        many=True,
        required=False,
        help_text=(
            "Only when a cosmetic field was recorded otherwise than sent (an `ip` that is no "
            "address, stored as unknown; text cut to its limit): `events[i].field` and what "
            "was done. The events were recorded."
        ),
    )


_EXAMPLE = {
    "events": [
        {
            "action": "connect",
            "time": "2025-07-10T10:14:38.942776Z",
            "type": "ssh",
            "workspace_id": "05567e23-31e2-4c00-bd05-4d499d437347",
            "agent_name": "main",
            "connection_id": "7a6fafdc-e3d0-43cb-a1b7-1f19802d7908",
            "ip": "10.1.2.3",
        }
    ]
}


def _shown(key: str) -> str:
    # A key may hold a lone surrogate, which the JSON renderer could not encode.
    return key[:100].encode("utf-8", "backslashreplace").decode("utf-8")


class ConnectionEventsView(APIView):
    parser_classes = [BoundedJSONParser]
    permission_classes = [MayReportEvents]

    @extend_schema(
        operation_id="reportConnectionEvents",
        summary="Record connection events (site owner or connection-reporter)",
        request=EventBatchSerializer,
        responses={
            200: RecordResultSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            409: ErrorSerializer,
            411: ErrorSerializer,
            413: ErrorSerializer,
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=False,
                description=(
                    "Optional, up to 128 printable ASCII characters. A batch resent with the "
                    "same key (after a lost answer) is not applied again: the first answer is "
                    "returned with `Idempotent-Replayed: true`. Remembered for 24 hours."
                ),
            )
        ],
        examples=[OpenApiExample("One SSH connect", value=_EXAMPLE, request_only=True)],
    )
    @metrics.observe_ingest
    def post(self, request):
        body = request.data
        if not isinstance(body, Mapping):
            raise ApiError(
                INVALID_EVENTS,
                validations=[Validation("events", 'Send a JSON object {"events": [...]}.')],
            )
        unknown = sorted(key for key in body if key != "events")
        if unknown:
            raise ApiError(
                INVALID_EVENTS,
                validations=[Validation(_shown(key), "Unknown field.") for key in unknown],
            )

        def record() -> dict:
            return ingest.record_events(
                body.get("events"), max_events=settings.CONNLOGS_MAX_EVENTS
            ).as_dict()

        key = request.headers.get(idempotency.HEADER, "").strip()
        try:
            if not key:
                return Response(record())
            if not idempotency.valid_key(key):
                raise ApiError(
                    INVALID_EVENTS,
                    validations=[
                        Validation(
                            idempotency.HEADER,
                            f"Use 1 to {idempotency.MAX_KEY_LENGTH} printable ASCII characters.",
                        )
                    ],
                )
            answer, replayed = idempotency.apply_once(request.user, key, body, record)
        except ingest.EventValidationError as error:
            raise ApiError(INVALID_EVENTS, validations=error.validations) from None
        except idempotency.KeyReused:
            raise ApiError(
                "This Idempotency-Key was already used for a different batch.",
                status_code=409,
                validations=[Validation(idempotency.HEADER, "Use a new key for a new batch.")],
            ) from None
        response = Response(answer)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response
