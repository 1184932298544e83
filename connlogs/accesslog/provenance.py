"""Exports that prove themselves: the bytes sent are hashed as they go, and the export is an
access-log entry with that SHA-256.

* NDJSON ends with one more line, the provenance record
  ``{"provenance": {"export", "format", "door", "q", "caller", "generated_at", "rows",
  "sha256", "access_log_entry"}}``, whose ``sha256`` is that of every byte before it.
* CSV stays a plain table (a spreadsheet opens it as before); its provenance is a sidecar,
  ``<file name>.sha256`` (``sidecar_text``), in the format ``sha256sum -c`` reads, with the
  provenance in comment lines, served from the access log after the download.

The entry is written when the body ends: ``complete`` after the last row, ``abandoned`` when
the client goes away first (the server closes the body), ``failed`` when reading fails. Its
``rows`` and ``export_sha256`` are what had been produced by then. ``manage.py
verify_export`` checks a file against it (``connlogs.accesslog.exports``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils import timezone

from connlogs.accesslog.record import Export, Read, Reader, record
from connlogs.models import AccessLogEntry
from connlogs.values import format_time

Status = AccessLogEntry.ExportStatus
PROVENANCE_KEY = "provenance"
NDJSON = "ndjson"


@dataclass(frozen=True)
class ExportStart:
    """A download about to be sent: who asks, through which door, for which ``q``, in which
    format, under which file name (it carries the time and a short id of the export)."""

    reader: Reader
    door: str
    q: str
    fmt: str
    started: dt.datetime
    export_id: uuid.UUID

    @classmethod
    def from_request(cls, request, door: str, q: str, fmt: str) -> ExportStart:
        return cls(Reader.from_request(request), door, q, fmt, timezone.now(), uuid.uuid4())

    @property
    def name(self) -> str:
        stamp = self.started.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"connection-log-{stamp}-{self.export_id.hex[:8]}.{self.fmt}"


def provenance_record(entry: AccessLogEntry, fmt: str) -> dict:
    """What an export says of itself (the NDJSON's last line; the CSV sidecar's comments)."""
    return {
        PROVENANCE_KEY: {
            "export": entry.export_name,
            "format": fmt,
            "door": entry.door,
            "q": entry.q,
            "caller": {
                "user_id": str(entry.user_id) if entry.user_id else None,
                "username": entry.username,
                "token_name": entry.token_name,
            },
            "generated_at": format_time(entry.time),
            "rows": entry.rows,
            "status": entry.export_status,
            "sha256": entry.export_sha256,
            "access_log_entry": entry.pk,
        }
    }


class ProvenancedBody:
    """The body of a download as bytes: hashed as they go; recorded when it ends.

    ``pieces`` is the formatted text, ``rows`` the ``ExportRows`` it is made of (its count,
    organizations and identities go into the entry). The server closes it after the last
    byte, or early when the client goes away (``close``).
    """

    def __init__(self, pieces: Iterator[str], rows, start: ExportStart):
        self._pieces = pieces
        self._rows = rows
        self._start = start
        self._sha256 = hashlib.sha256()
        self._entry: AccessLogEntry | None = None

    def __iter__(self) -> ProvenancedBody:
        return self

    def __next__(self) -> bytes:
        if self._entry is not None:
            raise StopIteration
        try:
            piece = next(self._pieces)
        except StopIteration:
            entry = self._record(Status.COMPLETE)
            if self._start.fmt != NDJSON:
                raise
            record_line = json.dumps(provenance_record(entry, NDJSON), separators=(",", ":"))
            return (record_line + "\n").encode()
        except Exception:
            self._record(Status.FAILED)
            raise
        data = piece.encode()
        self._sha256.update(data)
        return data

    def close(self) -> None:
        if self._entry is None:
            self._record(Status.ABANDONED)
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    @property
    def entry(self) -> AccessLogEntry | None:
        return self._entry

    def _record(self, status: str) -> AccessLogEntry:
        start, rows = self._start, self._rows
        read = Read(
            door=start.door,
            q=start.q,
            rows=rows.rows,
            organizations=set(rows.organizations),
            export=Export(start.name, self._sha256.hexdigest(), status),
        )
        self._entry = record(start.reader, read, rows.identities)
        return self._entry


def sidecar_text(entry: AccessLogEntry) -> str:
    """The ``.sha256`` file of a CSV export: provenance as comments, then the line that
    ``sha256sum -c`` checks."""
    facts = provenance_record(entry, "csv")[PROVENANCE_KEY]
    caller = facts["caller"]
    lines = [
        f"# connlogs export {entry.export_name}",
        f"# generated_at: {facts['generated_at']}",
        f"# caller: {json.dumps(caller['username'])} token {json.dumps(caller['token_name'])}"
        f" from {json.dumps(entry.address)}",
        f"# door: {entry.door}",
        f"# q: {json.dumps(entry.q, ensure_ascii=False)}",
        f"# rows: {entry.rows} ({entry.export_status})",
        f"# access_log_entry: {entry.pk}",
        f"{entry.export_sha256}  {entry.export_name}",
    ]
    return "\n".join(lines) + "\n"


# --- checking a file (manage.py verify_export) ---------------------------------------------


@dataclass
class ExportCheck:
    """What ``check_export`` found: ``entry`` is the export's access-log entry when found;
    ``problems`` is empty when the file is exactly what connlogs produced."""

    sha256: str
    entry: AccessLogEntry | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.entry is not None


def _split_record(data: bytes) -> tuple[bytes, object]:
    """An NDJSON export's content and what its provenance line holds (``None`` without one;
    any JSON value: the file may have been written by anyone)."""
    if not data.endswith(b"\n"):
        return data, None
    content, _, last = data[:-1].rpartition(b"\n")
    try:
        found = json.loads(last)
    except ValueError:
        return data, None
    if not isinstance(found, dict) or set(found) != {PROVENANCE_KEY}:
        return data, None
    return (content + b"\n" if content else b""), found[PROVENANCE_KEY]


def _sidecar_hash(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.split()[0].lower()
    return ""


def check_export(data: bytes, sidecar: str | None = None) -> ExportCheck:
    """Whether ``data`` (a whole file) is an export as connlogs produced it.

    An NDJSON file is checked against its last line; a CSV file against ``sidecar`` (the
    ``.sha256`` file's text) when given. Either way the SHA-256 must be that of an export in
    the access log, and what the file says of itself must be what the log says.
    """
    content, record = _split_record(data)
    check = ExportCheck(hashlib.sha256(content).hexdigest())
    exports = AccessLogEntry.objects.exclude(export_name="")
    if record is not None:
        if not isinstance(record, dict):
            check.problems.append("its provenance line holds no record (not a JSON object)")
            record = {}
        if record.get("sha256") != check.sha256:
            check.problems.append(
                "the rows were changed after the export: their SHA-256 is "
                f"{check.sha256}, its provenance record says {record.get('sha256')}"
            )
        entry_id = record.get("access_log_entry")
        if isinstance(entry_id, int) and not isinstance(entry_id, bool) and 0 < entry_id < 2**63:
            check.entry = exports.filter(pk=entry_id).first()
    else:
        if sidecar is not None and _sidecar_hash(sidecar) != check.sha256:
            check.problems.append(
                f"the file's SHA-256 is {check.sha256}, its checksum file says "
                f"{_sidecar_hash(sidecar) or 'nothing'}"
            )
        check.entry = exports.filter(export_sha256=check.sha256).order_by("-id").first()
    if check.entry is None:
        check.problems.append(
            "the access log has no export with this content: connlogs did not produce it, "
            "or it was changed since"
        )
        return check
    if check.entry.export_sha256 != check.sha256:
        check.problems.append(
            f"the access log records SHA-256 {check.entry.export_sha256} for this export"
        )
    if record is not None and record != provenance_record(check.entry, NDJSON)[PROVENANCE_KEY]:
        check.problems.append("the provenance record differs from the access log's entry")
    if record is None and _ends_with_provenance(check.entry):
        check.problems.append(
            "its last line, the provenance record connlogs wrote after the rows, is missing "
            "(the rows before it are exactly the export's)"
        )
    return check


def _ends_with_provenance(entry: AccessLogEntry) -> bool:
    """Whether the file connlogs sent for ``entry`` ended with a provenance line: a complete
    NDJSON export (an unfinished one stops at its last row)."""
    return entry.export_name.endswith(f".{NDJSON}") and entry.export_status == Status.COMPLETE
