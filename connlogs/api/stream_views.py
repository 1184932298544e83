"""Streams: ``/api/v2/connectionlog/streams`` (list, create), ``…/streams/{id}`` (read,
change, delete) and ``…/streams/{id}/pause`` and ``/resume``.

Who may do what is ``connlogs.streams.access``: site owners and organization admins only
(403 for other signed-in users); a stream the caller may not see answers 404, as one that does
not exist. Secrets are write-only: the answer says only whether one is set.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import values
from connlogs.api import stream_rules
from connlogs.api.directory import error_responses, validated
from connlogs.api.serializers import organization_json
from connlogs.api.stream_serializers import (
    StreamBodySerializer,
    StreamListSerializer,
    StreamSerializer,
)
from connlogs.privacy.shown_query import shown_searches
from connlogs.streams import access
from connlogs.streams.models import Stream
from connlogs.streams.status import stream_health
from connlogs.values import format_time

NOT_ALLOWED = "Only site owners and organization admins may manage streams."
STREAM_ID = OpenApiParameter("stream", OpenApiTypes.UUID, OpenApiParameter.PATH)


def stream_json(stream: Stream, shown_q: str) -> dict:
    """A stream as the API shows it (``StreamSerializer``); loaded with
    ``select_related("organization", "created_by")``. ``shown_q``: its ``q`` as the caller is
    shown it (``_shown``)."""
    creator = stream.created_by
    return {
        "id": str(stream.id),
        "name": stream.name,
        "kind": stream.kind,
        "url": stream.url,
        "host": stream.host,
        "port": stream.port,
        "secret_set": stream.has_secret,
        "tls_ca": stream.tls_ca,
        "q": shown_q,
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


def _shown(request, streams: list[Stream]) -> list[dict]:
    """``streams`` as the caller is shown them: a ``q`` with real names and addresses shows
    them as stand-ins to a reader shown pseudonyms (``privacy.shown_query``)."""
    shown = shown_searches(request.user, streams)
    return [stream_json(stream, q) for stream, q in zip(streams, shown, strict=True)]


class StreamListView(APIView):
    @extend_schema(
        operation_id="listStreams",
        summary="The streams you manage, with their health",
        responses={200: StreamListSerializer, **error_responses(401, 403)},
    )
    def get(self, request):
        _manager(request)
        streams = access.visible_streams(request.user).order_by("name", "id")
        return Response({"streams": _shown(request, list(streams))})

    @extend_schema(
        operation_id="createStream",
        summary="Stream connection-log changes to a SIEM (HTTP JSON, Splunk HEC or syslog)",
        request=StreamBodySerializer,
        responses={201: StreamSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request):
        _manager(request)
        stream = stream_rules.create_stream(request, validated(StreamBodySerializer, request))
        return Response(_shown(request, [stream])[0], status=status.HTTP_201_CREATED)


class StreamDetailView(APIView):
    @extend_schema(
        operation_id="getStream",
        summary="A stream and its health",
        parameters=[STREAM_ID],
        responses={200: StreamSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, stream: str):
        return Response(_shown(request, [_visible(request, stream)])[0])

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
        changed = stream_rules.apply_changes(request, found, body.validated_data)
        return Response(_shown(request, [changed])[0])

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
        stream_rules.set_paused(found, self.paused)
        found.save(update_fields=["paused", "next_attempt_at", "failures", "updated_at"])
        return Response(_shown(request, [found])[0])


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
