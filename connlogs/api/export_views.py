"""``GET /api/v2/connectionlog/export``: every row the same ``q`` shows, streamed (export.md)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from connlogs import export
from connlogs.accesslog.record import Door
from connlogs.api.errors import ApiError
from connlogs.api.pagination import single_param
from connlogs.api.saved_views import VIEW_PARAMETER
from connlogs.api.serializers import ErrorSerializer
from connlogs.api.views import Q_PARAMETER
from connlogs.search import Validation, quote
from connlogs.search.request import LogSearch


def parse_format(params) -> tuple[str, list[Validation]]:
    errors: list[Validation] = []
    given = single_param(params, "format", errors)
    if errors:
        return "", errors
    fmt = given or export.CSV
    if fmt not in export.FORMATS:
        errors.append(
            Validation(
                "format",
                'Query param "format" must be one of '
                + ", ".join(f'"{name}"' for name in export.FORMATS),
            )
        )
    return fmt, errors


# Go's strconv.ParseBool, which Coder's query parameters use for booleans.
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bom(params) -> tuple[bool, list[Validation]]:
    """``bom``: a boolean as Go's ``strconv.ParseBool`` reads it; absent or empty is false."""
    errors: list[Validation] = []
    given = single_param(params, "bom", errors)
    if errors or given == "" or given in _FALSE:
        return False, errors
    if given in _TRUE:
        return True, errors
    detail = f'Query param "bom" must be a valid boolean: strconv.ParseBool: parsing {quote(given)}'
    return False, [Validation("bom", detail + ": invalid syntax")]


def parse_options(params) -> tuple[str, bool, list[Validation]]:
    """``format`` and ``bom`` of an export request, and their validations (``[]``: good)."""
    fmt, errors = parse_format(params)
    bom, bom_errors = parse_bom(params)
    return fmt, bom, errors + bom_errors


DOWNLOAD = (
    "An attachment named connection-log-<UTC time of the export>-<export id>.csv or .ndjson: "
    "`format=csv` gives text/csv (RFC 4180, a header row; its SHA-256 and provenance at "
    "/api/v2/connectionlog/exports/<file name>.sha256 once it is complete), `format=ndjson` "
    "gives application/x-ndjson (one read-contract object per line, then one provenance "
    'record `{"provenance": {...}}` with the SHA-256 of every line before it).'
)


class ConnectionLogExportView(APIView):
    @extend_schema(
        operation_id="exportConnectionLogs",
        summary="Download every matching connection log as CSV or NDJSON, newest first",
        description=(
            "Streams every row that the same `q` shows the caller (no row cap), newest first. "
            "NDJSON: one read-contract entry per line. CSV: a header row then the columns "
            "id, connect_time, disconnect_time, type, organization, workspace_owner, "
            "workspace_name, agent_name, ip, username, user_email, user_agent, slug_or_port, "
            "status_code, exit_code, disconnect_reason, connection_id, workspace_id; cells "
            "starting with = + - @ (or their full-width forms), tab, carriage return or line "
            "feed that are not numbers are prefixed with `'`. `bom=1` starts a CSV file with "
            "a UTF-8 byte-order mark, so that Excel reads it as UTF-8. A bad `q`, `format` or "
            "`bom` is a 400 before any byte is streamed. Any `Accept` header is answered. When "
            "the server already streams as many exports as it may, a 429 with `Retry-After`."
        ),
        parameters=[
            Q_PARAMETER,
            VIEW_PARAMETER,
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(export.FORMATS),
                default=export.CSV,
                description="`csv` (default) or `ndjson`.",
            ),
            OpenApiParameter(
                "bom",
                OpenApiTypes.BOOL,
                default=False,
                description=(
                    "`1`/`true`: start a CSV file with a UTF-8 byte-order mark (U+FEFF), which "
                    "Excel needs to read UTF-8. Default off; ignored for NDJSON. Read as Go's "
                    "strconv.ParseBool: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False."
                ),
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=DOWNLOAD),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description=DOWNLOAD),
            (400, "application/json"): ErrorSerializer,
            (401, "application/json"): ErrorSerializer,
            (429, "application/json"): OpenApiResponse(
                ErrorSerializer,
                description="This server already streams as many exports as it may "
                "(`CONNLOGS_MAX_EXPORTS_PER_PROCESS`); `Retry-After` says when to ask again.",
            ),
        },
    )
    def get(self, request):
        fmt, bom, errors = parse_options(request.query_params)
        if errors:
            raise ApiError("Query parameters have invalid values.", validations=errors)
        search = LogSearch.from_request(request)
        if search.validations:
            raise ApiError("Invalid connection search query.", validations=search.validations)
        try:
            return export.search_export_response(search, fmt, Door.API_EXPORT, bom=bom)
        except export.ExportsBusy:
            return export.busy_answer(request)
