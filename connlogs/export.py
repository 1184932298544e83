"""Streaming exports of connection logs as CSV or NDJSON (shared/spec/export.md).

Both formats are built from ``connection_log_json``, the one function that shapes a log row,
so an export says exactly what the read API says. Rows come from a server-side cursor
(``iterator(chunk_size=...)``) and leave in batches of a few kilobytes: memory stays
constant whatever the number of rows, and there is no row cap.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from connlogs.api.serializers import connection_log_json

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "connect_time",
    "disconnect_time",
    "type",
    "organization",
    "workspace_owner",
    "workspace_name",
    "agent_name",
    "ip",
    "username",
    "user_email",
    "user_agent",
    "slug_or_port",
    "status_code",
    "exit_code",
    "disconnect_reason",
    "connection_id",
    "workspace_id",
)

CSV = "csv"
NDJSON = "ndjson"
CONTENT_TYPES: dict[str, str] = {
    CSV: "text/csv; charset=utf-8",
    NDJSON: "application/x-ndjson",
}
FORMATS: tuple[str, ...] = tuple(CONTENT_TYPES)

# Rows fetched per round trip of the server-side cursor.
CHUNK_SIZE = 2000
# Bytes gathered before a piece of the body is handed to the server: one write per row
# would make a million-row export a million tiny socket writes.
FLUSH_AT = 64 * 1024

# Spreadsheets run a cell that starts with one of these as a formula ...
_FORMULA_STARTS = ("=", "+", "-", "@")
# ... unless it is a plain number (a negative exit code stays a number).
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralise(text: str) -> str:
    """A CSV cell a spreadsheet shows instead of running (``'=cmd`` instead of ``=cmd``)."""
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.match(text):
        return "'" + text
    return text


def _cell(value) -> str:
    return "" if value is None else str(value)


def csv_cells(entry: dict) -> list[str]:
    """One CSV row, in ``CSV_COLUMNS`` order, from a row's read-contract entry."""
    web = entry.get("web_info") or {}
    ssh = entry.get("ssh_info") or {}
    user = web.get("user") or {}
    cells = [
        entry["id"],
        entry["connect_time"],
        ssh.get("disconnect_time"),
        entry["type"],
        entry["organization"]["name"],
        entry["workspace_owner_username"],
        entry["workspace_name"],
        entry["agent_name"],
        entry.get("ip"),
        user.get("username"),
        user.get("email"),
        web.get("user_agent"),
        web.get("slug_or_port"),
        web.get("status_code"),
        ssh.get("exit_code"),
        ssh.get("disconnect_reason"),
        ssh.get("connection_id"),
        entry["workspace_id"],
    ]
    return [neutralise(_cell(value)) for value in cells]


class _Line:
    """A file-like object whose ``write`` hands back what ``csv.writer`` wrote."""

    def write(self, text: str) -> str:
        return text


def _batched(pieces: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= FLUSH_AT:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def csv_lines(rows: Iterable) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        yield writer.writerow(csv_cells(connection_log_json(row)))


def ndjson_lines(rows: Iterable) -> Iterator[str]:
    for row in rows:
        yield json.dumps(connection_log_json(row), ensure_ascii=False, separators=(",", ":"))
        yield "\n"


def stream_rows(queryset: QuerySet) -> Iterator:
    """The rows of ``queryset`` newest first, read through a server-side cursor."""
    return queryset.newest_first().with_related().iterator(chunk_size=CHUNK_SIZE)


def filename(fmt: str, now: dt.datetime | None = None) -> str:
    stamp = (now or timezone.now()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"connection-log-{stamp}.{fmt}"


def export_response(queryset: QuerySet, fmt: str) -> StreamingHttpResponse:
    """A download of every row of ``queryset`` (already scoped and filtered) in ``fmt``.

    Nothing is read from the database until the server starts sending the body.
    """
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {fmt!r}")
    lines = csv_lines if fmt == CSV else ndjson_lines
    # A generator: the query runs when the first piece of the body is asked for.
    body = _batched(lines(_lazy(queryset)))
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename(fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


def _lazy(queryset: QuerySet) -> Iterator:
    yield from stream_rows(queryset)
