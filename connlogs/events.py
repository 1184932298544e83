"""Connection events in, connection-log rows out: validation and the merging rules.

``record_events`` is the only writer of connection logs (the HTTP endpoint, the demo data and
the tests all call it). The rules are those of shared/spec/write-api.md section 1:

* agent-type events merge on (connection_id, workspace, agent_name): a connect creates the
  row or changes nothing; a disconnect fills disconnect time, reason and exit code where they
  are still empty, or creates a closed row whose connect and disconnect times are equal;
* web-type events are never merged: each is a new row;
* a batch is validated whole, then written in one transaction, race-free on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction

from connlogs import values
from connlogs.models import AGENT_TYPES, WEB_TYPES, ConnectionLog, ConnectionType, User, Workspace
from connlogs.search import Validation

CONNECT = "connect"
DISCONNECT = "disconnect"
MAX_AGENT_NAME = 64
MAX_TEXT = 4096

_COMMON_FIELDS = {"action", "time", "type", "workspace_id", "agent_name", "ip"}
_AGENT_FIELDS = _COMMON_FIELDS | {"connection_id", "reason", "exit_code"}
_AGENT_CONNECT_FIELDS = _COMMON_FIELDS | {"connection_id"}
_WEB_FIELDS = _COMMON_FIELDS | {"user_id", "user_agent", "slug_or_port", "status_code"}
_ALL_FIELDS = _AGENT_FIELDS | _WEB_FIELDS


class EventValidationError(Exception):
    """A batch with bad events; ``validations`` names each as ``events[i].field``."""

    def __init__(self, validations: list[Validation]):
        self.validations = validations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in validations))


@dataclass(frozen=True)
class Event:
    action: str
    time: dt.datetime
    type: str
    workspace_id: uuid.UUID
    agent_name: str
    ip: str | None = None
    connection_id: uuid.UUID | None = None
    reason: str = ""
    exit_code: int | None = None
    user_id: uuid.UUID | None = None
    user_agent: str = ""
    slug_or_port: str = ""
    status_code: int | None = None

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID, str]:
        return (self.connection_id, self.workspace_id, self.agent_name)


@dataclass(frozen=True)
class RecordResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


# --- validation -------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _storable(text: str) -> bool:
    # JSON may carry "\u0000" and lone surrogates; PostgreSQL text refuses the first and
    # UTF-8 cannot encode the second, so either would fail the insert instead of a 400.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_name(name: Any) -> str:
    """An unknown key as it can be shown back in an error (and encoded as UTF-8)."""
    text = str(name)[:100]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _EventReader:
    """Reads one raw event, collecting an error per bad field instead of stopping."""

    def __init__(self, raw: Any, index: int):
        self.raw = raw if isinstance(raw, Mapping) else {}
        self.prefix = f"events[{index}]"
        self.errors: list[Validation] = []

    def error(self, name: str, detail: str) -> None:
        self.errors.append(Validation(f"{self.prefix}.{name}" if name else self.prefix, detail))

    def text(self, name: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.error(name, "This field is required.")
            return ""
        if not isinstance(value, str):
            self.error(name, "Must be a string.")
            return ""
        if not _storable(value):
            self.error(name, "Must be valid UTF-8 text without NUL characters.")
            return ""
        if len(value) > max_length:
            self.error(name, f"Must be at most {max_length} characters.")
        return value

    def uuid(self, name: str, *, required: bool = False) -> uuid.UUID | None:
        text = self.text(name, required=required)
        if not text:
            return None
        try:
            return values.parse_uuid(text)
        except ValueError:
            self.error(name, "Must be a valid UUID.")
            return None

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not _is_int(value) or not low <= value <= high:
            self.error(name, f"Must be an integer from {low} to {high}.")
            return None
        return value


def _read_event(raw: Any, index: int) -> tuple[Event | None, list[Validation]]:
    reader = _EventReader(raw, index)
    if not isinstance(raw, Mapping):
        reader.error("", "Each event must be a JSON object.")
        return None, reader.errors

    action = reader.text("action", required=True)
    if action and action not in (CONNECT, DISCONNECT):
        reader.error("action", 'Must be "connect" or "disconnect".')
    time_text = reader.text("time", required=True)
    time = None
    if time_text:
        try:
            time = values.parse_rfc3339(time_text)
        except ValueError as error:
            reader.error("time", f"Must be an RFC 3339 time: {error}")
    kind = reader.text("type", required=True)
    if kind and kind not in ConnectionType.values:
        reader.error("type", "Must be one of " + ", ".join(ConnectionType.values) + ".")
    workspace_id = reader.uuid("workspace_id", required=True)
    agent_name = reader.text("agent_name", required=True, max_length=MAX_AGENT_NAME)
    ip = None
    ip_text = reader.text("ip")
    if ip_text:
        try:
            ip = values.normalize_ip(ip_text)
        except ValueError:
            reader.error("ip", "Must be an IPv4 or IPv6 address.")

    for name in sorted(set(reader.raw) - _ALL_FIELDS):
        reader.error(_field_name(name), "Unknown field.")

    is_web = kind in WEB_TYPES
    if kind in AGENT_TYPES:
        allowed = _AGENT_FIELDS if action == DISCONNECT else _AGENT_CONNECT_FIELDS
    elif is_web:
        allowed = _WEB_FIELDS
    else:
        allowed = _ALL_FIELDS
    for name in sorted((set(reader.raw) & _ALL_FIELDS) - allowed):
        if reader.raw.get(name) is not None:
            reader.error(name, f"Not allowed on a {action or 'this'} event of type {kind}.")
    if is_web and action == DISCONNECT:
        reader.error("action", 'Web events are point-in-time: action must be "connect".')

    # Read only where it applies: on a web event it was refused above, once.
    connection_id = reader.uuid("connection_id", required=True) if kind in AGENT_TYPES else None
    event = Event(
        action=action,
        time=time,
        type=kind,
        workspace_id=workspace_id,
        agent_name=agent_name,
        ip=ip,
        connection_id=connection_id,
        reason=reader.text("reason") if not is_web else "",
        exit_code=reader.integer("exit_code", -(2**31), 2**31 - 1) if not is_web else None,
        user_id=reader.uuid("user_id") if is_web else None,
        user_agent=reader.text("user_agent") if is_web else "",
        slug_or_port=reader.text("slug_or_port", max_length=256) if is_web else "",
        status_code=(reader.integer("status_code", 100, 599) or 200) if is_web else None,
    )
    return (None if reader.errors else event), reader.errors


def validate_events(raw_events: Any, *, max_events: int = 1000) -> list[Event]:
    """Every event of a batch, or ``EventValidationError`` listing every bad field."""
    if not isinstance(raw_events, list):
        raise EventValidationError([Validation("events", "Must be a list of events.")])
    if not 1 <= len(raw_events) <= max_events:
        raise EventValidationError(
            [Validation("events", f"Send from 1 to {max_events} events in one batch.")]
        )
    events: list[Event] = []
    errors: list[Validation] = []
    for index, raw in enumerate(raw_events):
        event, event_errors = _read_event(raw, index)
        errors.extend(event_errors)
        if event is not None:
            events.append(event)
    if errors:
        raise EventValidationError(errors)
    return events


def _check_references(events: list[Event]) -> dict[uuid.UUID, Workspace]:
    """Workspaces (deleted ones too: a late disconnect must not be lost) and users exist."""
    workspace_ids = {event.workspace_id for event in events}
    workspaces = {
        ws.id: ws
        for ws in Workspace.objects.filter(id__in=workspace_ids).only(
            "id", "name", "organization_id", "owner_id"
        )
    }
    user_ids = {event.user_id for event in events if event.user_id}
    known_users = set(User.objects.filter(id__in=user_ids).values_list("id", flat=True))
    errors = []
    for index, event in enumerate(events):
        if event.workspace_id not in workspaces:
            errors.append(Validation(f"events[{index}].workspace_id", "Workspace not found."))
        if event.user_id and event.user_id not in known_users:
            errors.append(Validation(f"events[{index}].user_id", "User not found."))
    if errors:
        raise EventValidationError(errors)
    return workspaces


# --- merging --------------------------------------------------------------------------


def _new_row(event: Event, workspace: Workspace) -> ConnectionLog:
    is_disconnect = event.action == DISCONNECT
    return ConnectionLog(
        id=uuid.uuid4(),
        connect_time=event.time,
        organization_id=workspace.organization_id,
        workspace_owner_id=workspace.owner_id,
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        agent_name=event.agent_name,
        ip=event.ip,
        type=event.type,
        code=event.status_code if event.type in WEB_TYPES else event.exit_code,
        user_agent=event.user_agent,
        user_id=event.user_id,
        slug_or_port=event.slug_or_port,
        connection_id=event.connection_id,
        disconnect_time=event.time if is_disconnect else None,
        disconnect_reason=event.reason if is_disconnect else "",
    )


def _apply_disconnect(row: ConnectionLog, event: Event) -> bool:
    """Fill what is still empty; True when the row changed."""
    changed = False
    if row.disconnect_time is None:
        row.disconnect_time = event.time
        changed = True
    if not row.disconnect_reason and event.reason:
        row.disconnect_reason = event.reason
        changed = True
    if row.code is None and event.exit_code is not None:
        row.code = event.exit_code
        changed = True
    return changed


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _fold(
    row: ConnectionLog | None, events: list[Event], workspace: Workspace, tally: _Tally
) -> tuple[ConnectionLog, bool]:
    """Apply one connection's events in order; returns the row and whether it changed."""
    changed = False
    for event in events:
        if row is None:
            row = _new_row(event, workspace)
            tally.created += 1
        elif event.action == DISCONNECT and _apply_disconnect(row, event):
            tally.updated += 1
            changed = True
        else:
            tally.unchanged += 1
    return row, changed


def _lock_rows(keys: Iterable[tuple]) -> dict[tuple, ConnectionLog]:
    keys = set(keys)
    if not keys:
        return {}
    # A fixed lock order keeps two batches that share connections from deadlocking.
    rows = (
        ConnectionLog.objects.select_for_update()
        .only(*_LOCKED_FIELDS)
        .filter(connection_id__in={key[0] for key in keys})
        .order_by("connection_id", "workspace_id", "agent_name")
    )
    return {
        row_key: row
        for row in rows
        if (row_key := (row.connection_id, row.workspace_id, row.agent_name)) in keys
    }


_MERGED_FIELDS = ["disconnect_time", "disconnect_reason", "code"]
# What merging reads of an existing row: its key and the fields a disconnect may fill.
_LOCKED_FIELDS = ["id", "connection_id", "workspace_id", "agent_name", *_MERGED_FIELDS]


def _write_merged(rows: list[ConnectionLog]) -> None:
    """Store the merged disconnect fields of ``rows``: one UPDATE ... FROM (VALUES ...).

    ``bulk_update`` builds a CASE WHEN per row and field (1,300 expressions for a batch with
    440 disconnects, most of the batch's Python time); this sends the same values as plain
    parameters. UPDATE ... FROM works on PostgreSQL and SQLite >= 3.33. On PostgreSQL the
    casts give the VALUES columns their types (a column of NULLs would otherwise be text);
    SQLite needs none (and would read a "datetime" cast as a number).
    """
    connection = connections[router.db_for_write(ConnectionLog)]
    meta = ConnectionLog._meta
    fields = [meta.pk] + [meta.get_field(name) for name in _MERGED_FIELDS]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if connection.vendor == "postgresql":
        row_sql = "(" + ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields) + ")"
    else:
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    assignments = ", ".join(
        f"{quote(f.column)} = v.column{i}" for i, f in enumerate(fields[1:], start=2)
    )
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        params = [
            field.get_db_prep_save(getattr(row, field.attname), connection)
            for row in chunk
            for field in fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} "
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v "
                f"WHERE {table}.{quote(meta.pk.column)} = v.column1",
                params,
            )


# --- the audit log: one JSON line per recorded event, for a SIEM ------------------------

audit_log = logging.getLogger("connlogs.events.audit")


def audit_entry(event: Event, workspace: Workspace) -> dict[str, Any]:
    """The audit record of one event: what was reported plus where it belongs."""
    entry = {
        "event": "connection_event",
        "action": event.action,
        "time": values.format_time(event.time),
        "type": event.type,
        "organization_id": str(workspace.organization_id),
        "workspace_owner_id": str(workspace.owner_id),
        "workspace_id": str(event.workspace_id),
        "workspace_name": workspace.name,
        "agent_name": event.agent_name,
        "ip": event.ip,
        "connection_id": str(event.connection_id) if event.connection_id else None,
        "reason": event.reason or None,
        "exit_code": event.exit_code,
        "user_id": str(event.user_id) if event.user_id else None,
        "user_agent": event.user_agent or None,
        "slug_or_port": event.slug_or_port or None,
        "status_code": event.status_code,
    }
    return {key: value for key, value in entry.items() if value is not None}


def _log_after_commit(events: list[Event], workspaces: Mapping[uuid.UUID, Workspace]) -> None:
    """Queue the audit lines of a batch; they are written only if its transaction commits."""
    if not settings.CONNLOGS_EVENT_LOG:
        return

    def write() -> None:
        for event in events:
            entry = audit_entry(event, workspaces[event.workspace_id])
            audit_log.info(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))

    transaction.on_commit(write)


def record_events(raw_events: Any, *, max_events: int = 1000) -> RecordResult:
    """Validate a batch and apply it in one transaction; ``EventValidationError`` if bad."""
    events = validate_events(raw_events, max_events=max_events)
    workspaces = _check_references(events)
    return apply_events(events, workspaces)


def apply_events(events: list[Event], workspaces: Mapping[uuid.UUID, Workspace]) -> RecordResult:
    tally = _Tally()
    web_rows = []
    by_connection: dict[tuple, list[Event]] = {}
    for event in events:
        if event.type in WEB_TYPES:
            web_rows.append(_new_row(event, workspaces[event.workspace_id]))
            tally.created += 1
        else:
            by_connection.setdefault(event.key, []).append(event)

    with transaction.atomic():
        if web_rows:
            ConnectionLog.objects.bulk_create(web_rows, batch_size=500)

        existing = _lock_rows(by_connection)
        changed_rows, new_rows, new_row_tallies = [], [], {}
        for key, connection_events in by_connection.items():
            workspace = workspaces[key[1]]
            if key in existing:
                row, changed = _fold(existing[key], connection_events, workspace, tally)
                if changed:
                    changed_rows.append(row)
            else:
                sub_tally = _Tally()
                row, _ = _fold(None, connection_events, workspace, sub_tally)
                new_rows.append(row)
                new_row_tallies[key] = sub_tally

        if new_rows:
            new_rows.sort(
                key=lambda row: (str(row.connection_id), str(row.workspace_id), row.agent_name)
            )
            # Another writer may insert the same connection between our read and this
            # insert; ON CONFLICT DO NOTHING waits for it, and we merge into its row instead.
            ConnectionLog.objects.bulk_create(new_rows, batch_size=500, ignore_conflicts=True)
            inserted = set(
                ConnectionLog.objects.filter(id__in=[row.id for row in new_rows]).values_list(
                    "id", flat=True
                )
            )
            lost = [row for row in new_rows if row.id not in inserted]
            raced = _lock_rows(
                (row.connection_id, row.workspace_id, row.agent_name) for row in lost
            )
            for row in new_rows:
                key = (row.connection_id, row.workspace_id, row.agent_name)
                if row.id in inserted:
                    sub_tally = new_row_tallies[key]
                    tally.created += sub_tally.created
                    tally.updated += sub_tally.updated
                    tally.unchanged += sub_tally.unchanged
                else:
                    merged, changed = _fold(
                        raced[key], by_connection[key], workspaces[key[1]], tally
                    )
                    if changed:
                        changed_rows.append(merged)

        if changed_rows:
            _write_merged(changed_rows)
        _log_after_commit(events, workspaces)

    return RecordResult(tally.created, tally.updated, tally.unchanged)
