"""The access log's API: its entries, their export, and the checksum files of CSV exports.

``GET /api/v2/accesslog``: entries newest first (``q``, ``limit``, ``offset``), to site owners
and organization admins (``connlogs.accesslog.search``). ``GET /api/v2/accesslog/export``:
all of them as CSV or NDJSON. ``GET /api/v2/connectionlog/exports/<file>.sha256``: the
sidecar of a CSV export, to its caller and site owners. Reading the access log is not a read
of connection logs: it adds no entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import roles, values
from connlogs.accesslog import chain
from connlogs.accesslog.provenance import sidecar_text
from connlogs.accesslog.search import AccessLogFilterSet, organization_names
from connlogs.api.errors import NOT_FOUND, ApiError
from connlogs.api.export_views import parse_format
from connlogs.api.pagination import parse_page_params
from connlogs.api.permissions import MayReadAccessLog
from connlogs.api.serializers import ErrorSerializer
from connlogs.export import formats
from connlogs.export.started import StartedBody
from connlogs.models import AccessLogEntry, User
from connlogs.privacy.searches import SearchConcealer
from connlogs.search.request import query_text
from connlogs.values import format_time

ACCESS_Q = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description=(
        "Terms `key:value`, ANDed. Keys: user, door, revealed (true/false), organization, row, "
        'export (file name or SHA-256), after, before (quoted RFC 3339 times: `after:"…"`).'
    ),
)
# Every field the chain's hashes cover, then the chain: an export can be checked on its own.
CSV_COLUMNS = (*chain.HASHED, "seq", "prev_hash", "hash")
EXPORT_BATCH = 2000


def access_entry_json(entry: AccessLogEntry, names: dict[str, str]) -> dict:
    """An access-log entry as the API shows it; ``names``: organization id -> name."""
    return {
        "id": entry.pk,
        "time": format_time(entry.time),
        "user": {"id": str(entry.user_id) if entry.user_id else None, "username": entry.username},
        "token_name": entry.token_name,
        "address": entry.address,
        "door": entry.door,
        "q": entry.q,
        "row_id": str(entry.row_id) if entry.row_id else None,
        "rows": entry.rows,
        "revealed": entry.revealed,
        "organizations": [{"id": pk, "name": names.get(pk, "")} for pk in entry.organization_ids],
        "export": (
            {
                "name": entry.export_name,
                "sha256": entry.export_sha256,
                "status": entry.export_status,
            }
            if entry.export_name
            else None
        ),
        "chain": (
            {"seq": entry.seq, "prev_hash": entry.prev_hash, "hash": entry.hash}
            if entry.seq is not None
            else None
        ),
    }


def _searched(request) -> AccessLogFilterSet:
    filterset = AccessLogFilterSet.from_query(query_text(request.query_params), request)
    if filterset.validations:
        raise ApiError("Invalid access log search query.", validations=filterset.validations)
    return filterset


def _entry_id(text: str) -> int:
    """An access log entry's id (a whole number); ``ValueError`` otherwise."""
    found = values.whole_number(text, 2**63)
    if found is None or found >= 2**63:
        raise ValueError(text)
    return found


class AccessLogListView(APIView):
    permission_classes = [MayReadAccessLog]

    @extend_schema(
        operation_id="listAccessLog",
        summary="Who read connection logs: entries newest first",
        parameters=[
            ACCESS_Q,
            OpenApiParameter("limit", OpenApiTypes.INT, description="0 or missing means 100."),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter(
                "after_id",
                OpenApiTypes.INT,
                description="Entries older than this entry's id (newest first, as listed).",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request):
        page, errors = parse_page_params(
            request.query_params,
            max_limit=settings.CONNLOGS_MAX_LIMIT,
            read_cursor=_entry_id,
            cursor_kind="access log entry id",
        )
        if errors:
            raise ApiError("Query parameters have invalid values.", validations=errors)
        matching = _searched(request).qs
        if page.after_id is None:
            entries = list(matching[page.offset : page.offset + page.limit])
        else:  # the cursor wins over offset, as on the connection log (docs/api.md)
            entries = list(matching.filter(pk__lt=page.after_id)[: page.limit])
        SearchConcealer.for_viewer(request.user).conceal(entries)
        names = organization_names(entries)
        cap = settings.CONNLOGS_COUNT_CAP
        return Response(
            {
                "entries": [access_entry_json(entry, names) for entry in entries],
                "count": matching.order_by().values("pk")[: cap + 1].count(),
                "count_cap": cap,
            }
        )


def _entries_in_batches(matching, searches: SearchConcealer) -> Iterator[AccessLogEntry]:
    last = None
    while True:
        batch = matching if last is None else matching.filter(pk__lt=last)
        found = list(batch[:EXPORT_BATCH])
        yield from searches.conceal(found)
        if len(found) < EXPORT_BATCH:
            return
        last = found[-1].pk


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_time(value)
    return str(value)


def _csv_cells(entry: AccessLogEntry) -> list[str]:
    return [formats.neutralise(_cell(getattr(entry, column))) for column in CSV_COLUMNS]


def access_log_lines(matching, fmt: str, viewer: User) -> Iterator[str]:
    """The entries of ``matching`` as CSV (a header row first) or NDJSON lines, their
    searches as ``viewer`` is shown them (``connlogs.privacy.searches``)."""
    searches = SearchConcealer.for_viewer(viewer)
    if fmt == formats.CSV:
        writer = formats.line_writer()
        yield writer.writerow(CSV_COLUMNS)
        for entry in _entries_in_batches(matching, searches):
            yield writer.writerow(_csv_cells(entry))
        return
    names: dict[str, str] = {}
    for entry in _entries_in_batches(matching, searches):
        missing = [pk for pk in entry.organization_ids if pk not in names]
        if missing:
            names.update(organization_names([entry]))
        yield formats.json_line(access_entry_json(entry, names)) + "\n"


def access_log_download(matching, fmt: str, viewer: User) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        StartedBody(formats.batched(access_log_lines(matching, fmt, viewer))),
        content_type=formats.CONTENT_TYPES[fmt],
    )
    response["Content-Disposition"] = f'attachment; filename="access-log.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


class AccessLogExportView(APIView):
    permission_classes = [MayReadAccessLog]

    @extend_schema(
        operation_id="exportAccessLog",
        summary="Download the access log entries a search matches, as CSV or NDJSON",
        parameters=[ACCESS_Q, OpenApiParameter("format", OpenApiTypes.STR, enum=["csv", "ndjson"])],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR),
            (400, "application/json"): ErrorSerializer,
            (403, "application/json"): ErrorSerializer,
        },
    )
    def get(self, request):
        fmt, errors = parse_format(request.query_params)
        if errors:
            raise ApiError("Query parameters have invalid values.", validations=errors)
        return access_log_download(_searched(request).qs, fmt, request.user)


def sidecar_entry(name: str, user: User) -> AccessLogEntry | None:
    """The completed CSV export named ``name`` if ``user`` made it or is a site owner."""
    found = AccessLogEntry.objects.filter(
        export_name=name,
        export_status=AccessLogEntry.ExportStatus.COMPLETE,
        export_name__endswith=".csv",
    )
    if not roles.is_owner(user):
        found = found.filter(user_id=user.pk)
    entry = found.order_by("-id").first()
    if entry is not None and entry.user_id != user.pk:
        # Another's export: its search as this owner may see it (the checksum line is the
        # content's, untouched).
        SearchConcealer.for_viewer(user).conceal([entry])
    return entry


def sidecar_response(entry: AccessLogEntry) -> HttpResponse:
    response = HttpResponse(sidecar_text(entry), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{entry.export_name}.sha256"'
    response["Cache-Control"] = "no-store"
    return response


class ExportChecksumView(APIView):
    @extend_schema(
        operation_id="exportChecksum",
        summary="The SHA-256 and provenance of a CSV export (a sha256sum file)",
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR),
            (404, "application/json"): ErrorSerializer,
        },
    )
    def get(self, request, name: str):
        entry = sidecar_entry(name, request.user)
        if entry is None:
            raise ApiError(NOT_FOUND, status_code=404)
        return sidecar_response(entry)
