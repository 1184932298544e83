"""The export formats: CSV cells a spreadsheet shows safely, NDJSON lines.

Both are written from the read contract's entries (``connlogs.export.rows``), so an export
says exactly what the read API says (shared/spec/export.md).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator

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

# Bytes gathered before a piece of the body is handed to the server: one write per row
# would make a million-row export a million tiny socket writes.
FLUSH_AT = 64 * 1024

# Spreadsheets run a cell that starts with one of these as a formula (OWASP, "CSV
# Injection": = + - @, tab and carriage return), or drop a leading line feed and then run
# it; Excel also reads the full-width forms of = + - @, which an East Asian input method
# types, as the ASCII ones (the small forms are treated alike, to be safe) ...
_FORMULA_STARTS = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\uff1d",  # ＝
    "\uff0b",  # ＋
    "\uff0d",  # －
    "\uff20",  # ＠
    "\ufe66",  # ﹦
    "\ufe62",  # ﹢
    "\ufe63",  # ﹣
    "\ufe6b",  # ﹫
)
# ... unless it is a plain number in ASCII digits (a negative exit code stays a number).
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
# The UTF-8 byte-order mark: Excel reads a CSV file without it in the machine's ANSI code
# page (so "José" becomes "JosÃ©"); with it, as UTF-8.
BYTE_ORDER_MARK = "\ufeff"


def neutralise(text: str) -> str:
    """A CSV cell a spreadsheet shows instead of running (``'=cmd`` instead of ``=cmd``).

    Cells starting with ``= + - @`` (ASCII, full-width or small form), tab, carriage return
    or line feed get a leading ``'``, except plain numbers (``-1``, ``+5``, ``1.5e3``).
    """
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


# ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` without building an encoder
# for every row; no cycle check (an entry is a tree).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class _Line:
    """A file-like object whose ``write`` hands back what ``csv.writer`` wrote."""

    def write(self, text: str) -> str:
        return text


def line_writer():
    """A ``csv.writer`` whose ``writerow`` returns the row's text (RFC 4180 quoting)."""
    return csv.writer(_Line())


def json_line(value) -> str:
    """``value`` as one NDJSON line's JSON (compact, UTF-8 as is), without the line feed."""
    return _encode(value)


def csv_lines(entries: Iterable[dict], *, bom: bool = False) -> Iterator[str]:
    """The CSV file: a header row, then a row per entry; ``bom``: a byte-order mark first,
    for Excel."""
    writer = line_writer()
    yield (BYTE_ORDER_MARK if bom else "") + writer.writerow(CSV_COLUMNS)
    for entry in entries:
        yield writer.writerow(csv_cells(entry))


def ndjson_lines(entries: Iterable[dict]) -> Iterator[str]:
    for entry in entries:
        yield _encode(entry) + "\n"


def batched(pieces: Iterable[str]) -> Iterator[str]:
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
