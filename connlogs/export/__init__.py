"""Streaming exports of connection logs as CSV or NDJSON (shared/spec/export.md).

``rows`` reads every row of a search in keyset batches and shapes each as the read API does;
``formats`` writes them as CSV cells or NDJSON lines; ``export_response`` is the download
that every door (the API's export, the list page's button) answers with, carrying its
provenance (``connlogs.accesslog.provenance``).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from connlogs import metrics
from connlogs.accesslog.provenance import ExportStart, ProvenancedBody
from connlogs.export import slots
from connlogs.export.formats import (
    CONTENT_TYPES,
    CSV,
    CSV_COLUMNS,
    FORMATS,
    NDJSON,
    batched,
    csv_cells,
    csv_lines,
    ndjson_lines,
    neutralise,
)
from connlogs.export.rows import stream_rows
from connlogs.export.slots import ExportsBusy, busy_answer
from connlogs.export.started import StartedBody
from connlogs.privacy.identities import Identities

__all__ = [
    "CONTENT_TYPES",
    "CSV",
    "CSV_COLUMNS",
    "ExportsBusy",
    "FORMATS",
    "NDJSON",
    "busy_answer",
    "csv_cells",
    "csv_lines",
    "export_response",
    "search_export_response",
    "ndjson_lines",
    "neutralise",
    "stream_rows",
]


def export_response(
    queryset: QuerySet,
    fmt: str,
    viewer,
    *,
    start: ExportStart,
    identities: Identities | None = None,
    bom: bool = False,
) -> StreamingHttpResponse:
    """A download of every row of ``queryset`` (already scoped and filtered) in ``fmt``, as
    ``viewer`` (the caller, a ``User``) sees it, with pseudonyms as ``identities`` shows them
    (the viewer's by default); ``bom``: a CSV file starts with a byte-order mark (for Excel;
    NDJSON never does). ``start`` names the export and its caller: the access-log entry is
    written when the body ends, and an NDJSON body ends with its provenance record.

    The first piece of the body is read here, so that a database that went away answers
    ``503`` through the middleware (``started.StartedBody``); the rest is read as the server
    sends it. Raises ``ExportsBusy`` (answer it with ``busy_answer``) when this process
    already streams ``CONNLOGS_MAX_EXPORTS_PER_PROCESS`` exports; the slot taken here is
    given back when the body ends or the server closes the response (``slots.hold``).
    """
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {fmt!r}")
    rows = stream_rows(queryset, viewer, identities)
    # The slot is taken before anything is read; the provenance wrapper closes the held body
    # when it ends, fails or is closed, which gives the slot back.
    pieces = slots.hold(
        metrics.counted_stream(
            batched(csv_lines(rows, bom=bom) if fmt == CSV else ndjson_lines(rows))
        )
    )
    response = StreamingHttpResponse(
        StartedBody(ProvenancedBody(pieces, rows, start)), content_type=CONTENT_TYPES[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="{start.name}"'
    response["Cache-Control"] = "no-store"
    return response


def search_export_response(search, fmt: str, door: str, *, bom: bool = False):
    """``export_response`` of a ``LogSearch`` (its rows, viewer, pseudonyms and ``q``) through
    ``door`` (``AccessLogEntry.Door``): what the API's export and the page's download send.
    Raises ``ExportsBusy`` as ``export_response`` does."""
    return export_response(
        search.matching,
        fmt,
        search.request.user,
        start=ExportStart.from_request(search.request, door, search.q, fmt),
        identities=search.identities,
        bom=bom,
    )
