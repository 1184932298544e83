"""Streams: ``/api/v2/connectionlog/streams`` (list, create), ``…/streams/{id}`` (read,
change, delete) and ``…/streams/{id}/pause`` and ``/resume``.

Who may do what is ``connlogs.streams.access``: site owners and organization admins only
(403 for other signed-in users); a stream the caller may not see answers 404, as one that does
not exist. Secrets are write-only: the answer says only whether one is set.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import values
from connlogs.api.directory import error_responses, validated
from connlogs.api.errors import ApiError
from connlogs.api.lookups import resolve_organization
from connlogs.api.serializers import organization_json
from connlogs.api.stream_serializers import (
    START_OLDEST,
    StreamBodySerializer,
    StreamListSerializer,
    StreamSerializer,
    destination_errors,
)
from connlogs.feed.reading import latest_seq
from connlogs.savedviews.resolve import NOT_VISIBLE, find_view
from connlogs.search import Validation
from connlogs.search.request import LogSearch
from connlogs.streams import access
from connlogs.streams.models import Stream
from connlogs.streams.status import stream_health
from connlogs.values import format_time

# Streams one deployment keeps: each costs a worker's time; enough for any SIEM setup.
MAX_STREAMS = 200
NOT_ALLOWED = "Only site owners and organization admins may manage streams."
NOT_IN_CLEAR = "Protected rows are sent with pseudonyms unless a site owner turns this off."
STREAM_ID = OpenApiParameter("stream", OpenApiTypes.UUID, OpenApiParameter.PATH)


def stream_json(stream: Stream) -> dict:
    """A stream as the API shows it (``StreamSerializer``); loaded with
    ``select_related("organization", "created_by")``."""
    creator = stream.created_by
    return {
        "id": str(stream.id),
        "name": stream.name,
        "kind": stream.kind,
        "url": stream.url,
        "host": stream.host,
        "port": stream.port,
        "secret_set": bool(stream.secret),
        "tls_ca": stream.tls_ca,
        "q": stream.q,
        "view": stream.view,
        "organization": organization_json(stream.organization) if stream.organization else None,
        "created_by": {"id": str(creator.id), "username": creator.username},
        "batch_size": stream.batch_size,
        "paused": stream.paused,
        "pseudonymised": stream.pseudonymised,
        "created_at": format_time(stream.created_at),
        "updated_at": format_time(stream.updated_at),
        "health": stream_health(stream),
    }


def _invalid(field: str, detail: str) -> ApiError:
    return ApiError("Validation failed.", validations=[Validation(field, detail)])


def _manager(request) -> None:
    if not access.may_manage_streams(request.user):
        raise PermissionDenied(NOT_ALLOWED)


def _visible(request, ref: str) -> Stream:
    _manager(request)
    stream = access.visible_streams(request.user).filter(pk=_uuid(ref)).first()
    if stream is None:
        raise NotFound()
    return stream


def _uuid(ref: str):
    try:
        return values.parse_uuid(ref)
    except ValueError:
        raise NotFound() from None


def _search(request, stream: Stream, data: dict) -> None:
    """Set ``q`` / ``view`` from ``data``: one or the other, valid for the caller."""
    q, view = data.get("q", stream.q), data.get("view", stream.view)
    if "q" in data and data["q"].strip() and "view" not in data:
        view = ""  # a new q replaces the view
    if "view" in data and data["view"] and "q" not in data:
        q = ""
    if q.strip() and view:
        raise _invalid("view", 'A stream follows a "q" or a "view", not both.')
    if view and find_view(view, request.user) is None:
        raise _invalid("view", NOT_VISIBLE)
    if q:
        search = LogSearch.from_request(request, q=q)
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
    stream.q, stream.view = q, view


def _target(request, stream: Stream, data: dict) -> None:
    if "organization" in data:
        organization = None
        if data["organization"]:
            try:
                organization = resolve_organization(request, data["organization"])
            except NotFound:
                raise _invalid(
                    "organization", "No organization by that name or id that you can see."
                ) from None
        stream.organization = organization
    if not access.may_target(request.user, stream.organization_id):
        raise PermissionDenied(
            "Organization admins stream their own organizations' rows (name one); site owners "
            "any organization's or all of them."
        )


def _identities(request, stream: Stream, data: dict) -> None:
    """Set ``pseudonymised``: only a site owner who may see identities themselves may send
    them in clear (docs/privacy.md); anyone who manages the stream may turn it back on."""
    if "pseudonymised" not in data or data["pseudonymised"] == stream.pseudonymised:
        return
    if not data["pseudonymised"] and not access.may_send_identities(request.user):
        raise ApiError(
            "Only a site owner who may see identities may send them in clear.",
            status_code=status.HTTP_403_FORBIDDEN,
            validations=[Validation("pseudonymised", NOT_IN_CLEAR)],
        )
    stream.pseudonymised = data["pseudonymised"]


def _apply(request, stream: Stream, data: dict) -> Stream:
    """Set ``data`` (a validated body) on ``stream``, check every rule, save."""
    for name in ("name", "kind", "url", "host", "port", "secret", "tls_ca", "batch_size"):
        if name in data:
            setattr(stream, name, data[name])
    _search(request, stream, data)
    _target(request, stream, data)
    _identities(request, stream, data)
    errors = destination_errors(stream)
    if errors:
        raise ApiError(
            "Validation failed.",
            validations=[Validation(field, detail) for field, detail in errors.items()],
        )
    if "paused" in data:
        _set_paused(stream, data["paused"])
    stream.save()
    return access.visible_streams(request.user).get(pk=stream.pk)


def _set_paused(stream: Stream, paused: bool) -> None:
    stream.paused = paused
    if not paused:
        # Resumed: due now, with the backoff forgotten.
        stream.next_attempt_at, stream.failures = timezone.now(), 0


class StreamListView(APIView):
    @extend_schema(
        operation_id="listStreams",
        summary="The streams you manage, with their health",
        responses={200: StreamListSerializer, **error_responses(401, 403)},
    )
    def get(self, request):
        _manager(request)
        streams = access.visible_streams(request.user).order_by("name", "id")
        return Response({"streams": [stream_json(stream) for stream in streams]})

    @extend_schema(
        operation_id="createStream",
        summary="Stream connection-log changes to a SIEM (HTTP JSON, Splunk HEC or syslog)",
        request=StreamBodySerializer,
        responses={201: StreamSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request):
        _manager(request)
        data = validated(StreamBodySerializer, request)
        if Stream.objects.count() >= MAX_STREAMS:
            raise _invalid("name", f"There are {MAX_STREAMS} streams already: delete some first.")
        stream = Stream(created_by=request.user, name=data["name"], kind=data["kind"])
        if data.get("start") != START_OLDEST:
            stream.cursor = latest_seq()
        stream = _apply(request, stream, data)
        return Response(stream_json(stream), status=status.HTTP_201_CREATED)


class StreamDetailView(APIView):
    @extend_schema(
        operation_id="getStream",
        summary="A stream and its health",
        parameters=[STREAM_ID],
        responses={200: StreamSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, stream: str):
        return Response(stream_json(_visible(request, stream)))

    @extend_schema(
        operation_id="updateStream",
        summary="Change a stream (its cursor stays: nothing is re-sent or skipped)",
        parameters=[STREAM_ID],
        request=StreamBodySerializer(partial=True),
        responses={200: StreamSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request, stream: str):
        found = _visible(request, stream)
        body = StreamBodySerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return Response(stream_json(_apply(request, found, body.validated_data)))

    @extend_schema(
        operation_id="deleteStream",
        summary="Delete a stream",
        parameters=[STREAM_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, stream: str):
        _visible(request, stream).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class _StreamSwitch(APIView):
    paused = True

    def post(self, request, stream: str):
        found = _visible(request, stream)
        _set_paused(found, self.paused)
        found.save(update_fields=["paused", "next_attempt_at", "failures", "updated_at"])
        return Response(stream_json(found))


class StreamPauseView(_StreamSwitch):
    paused = True

    @extend_schema(
        operation_id="pauseStream",
        summary="Pause a stream (the batch being sent finishes; the cursor stays)",
        parameters=[STREAM_ID],
        request=None,
        responses={200: StreamSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request, stream: str):
        return super().post(request, stream)


class StreamResumeView(_StreamSwitch):
    paused = False

    @extend_schema(
        operation_id="resumeStream",
        summary="Resume a stream from its cursor, now",
        parameters=[STREAM_ID],
        request=None,
        responses={200: StreamSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request, stream: str):
        return super().post(request, stream)
