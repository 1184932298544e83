"""Streaming exports of connection logs as CSV or NDJSON (shared/spec/export.md).

``rows`` reads every row of a search in keyset batches and shapes each as the read API does;
``formats`` writes them as CSV cells or NDJSON lines; ``export_response`` is the download
that every door (the API's export, the list page's button) answers with.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from connlogs import metrics
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
    filename,
    ndjson_lines,
    neutralise,
)
from connlogs.export.rows import stream_rows
from connlogs.export.slots import ExportsBusy, busy_answer

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
    "filename",
    "ndjson_lines",
    "neutralise",
    "stream_rows",
]


def export_response(
    queryset: QuerySet, fmt: str, viewer, *, bom: bool = False
) -> StreamingHttpResponse:
    """A download of every row of ``queryset`` (already scoped and filtered) in ``fmt``, as
    ``viewer`` (the caller, a ``User``) sees it; ``bom``: a CSV file starts with a byte-order
    mark (for Excel; NDJSON never does).

    Nothing is read from the database until the server starts sending the body. Raises
    ``ExportsBusy`` (answer it with ``busy_answer``) when this process already streams
    ``CONNLOGS_MAX_EXPORTS_PER_PROCESS`` exports; the slot taken here is given back when the
    body ends or the server closes the response (``slots.hold``).
    """
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {fmt!r}")
    entries = stream_rows(queryset, viewer)
    # A generator: the first query runs when the first piece of the body is asked for.
    body = slots.hold(
        metrics.counted_stream(
            batched(csv_lines(entries, bom=bom) if fmt == CSV else ndjson_lines(entries))
        )
    )
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename(fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
