"""``GET /api/v2/connectionlog``: the read contract."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs.accesslog.record import Door, record_rows
from connlogs.api.errors import ApiError
from connlogs.api.pagination import INT32_MAX, parse_page_params
from connlogs.api.saved_views import VIEW_PARAMETER
from connlogs.api.serializers import (
    ConnectionLogPageSerializer,
    ErrorSerializer,
    connection_log_entries,
)
from connlogs.middleware import handler404
from connlogs.search import Validation
from connlogs.search.request import LogSearch

Q_PARAMETER = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description=(
        "Search terms `key:value` separated by spaces, ANDed (docs/search.md). Coder's keys: "
        "organization, workspace_owner, workspace_owner_email, type, username, user_email, "
        "connected_after, connected_before, workspace_id, connection_id, status (ongoing, "
        "completed, stale). Ours: ip (address or CIDR block), workspace (name or owner/name), "
        "agent, status_code (404, 4xx, >=400), exit_code, result (ok, failed), active_after, "
        "active_before (overlap with a window), duration (>8h, <1m). `-key:value` excludes, "
        "`key:a,b` is either, words without a key search names, usernames, IPs and slugs. "
        'Times: RFC 3339 (quoted: `connected_after:"2025-01-01T00:00:00Z"`), a date '
        "(`2025-01-01`) or relative (`-24h`, `-7d`)."
    ),
)


class ConnectionLogListView(APIView):
    @extend_schema(
        operation_id="listConnectionLogs",
        summary="Search connection logs, newest first",
        parameters=[
            Q_PARAMETER,
            VIEW_PARAMETER,
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 0, "maximum": settings.CONNLOGS_MAX_LIMIT},
                description="Rows per page; 0 or missing means 100.",
            ),
            OpenApiParameter(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
                description="Rows to skip.",
            ),
            OpenApiParameter(
                "after_id",
                OpenApiTypes.UUID,
                description="Keyset paging: rows strictly after this row (wins over offset).",
            ),
        ],
        responses={200: ConnectionLogPageSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def get(self, request):
        page, page_errors = parse_page_params(
            request.query_params, max_limit=settings.CONNLOGS_MAX_LIMIT
        )
        if page_errors:
            raise ApiError("Query parameters have invalid values.", validations=page_errors)

        search = LogSearch.from_request(request)
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
        matching = search.matching
        cursor = None
        if page.after_id is not None:
            cursor = search.visible.filter(id=page.after_id).only("id", "connect_time").first()
            if cursor is None:
                raise ApiError(
                    "Query parameters have invalid values.",
                    validations=[
                        Validation(
                            "after_id",
                            'Query param "after_id" does not name a connection log you can see',
                        )
                    ],
                )
        cap = settings.CONNLOGS_COUNT_CAP
        counted = search.count_first(cap)
        reading = search.reading(counted, cap)
        if cursor is not None:
            rows = matching.first_rows(page.limit, after=cursor, reading=reading)
        else:
            rows = matching.page(page.offset, page.limit, reading)
        # Recorded as soon as the rows are read: the entry is written while the count and
        # the body are made, and the response waits for it (``accesslog.writer``).
        record_rows(request, Door.API, search.q, rows, search.identities)
        body = {
            "connection_logs": connection_log_entries(rows, request.user, search.identities),
            "count": matching.capped_count(cap) if counted is None else counted,
            "count_cap": cap,
        }
        return Response(body)


def not_found(request, *args, **kwargs) -> HttpResponse:
    """An address under ``/api/v2/`` that names nothing: the contract's JSON 404
    (``middleware.handler404``), whatever ``DEBUG`` says."""
    return handler404(request)


@require_safe
def docs_without_slash(request) -> HttpResponse:
    """``/api/v2/docs``: the interactive docs are at ``/api/v2/docs/`` (the catch-all 404
    would otherwise answer before Django's slash-appending redirect)."""
    return redirect("api-docs")
