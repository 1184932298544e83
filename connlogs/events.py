"""Connection events in, connection-log rows out: validation and the merging rules.

``record_events`` is the only writer of connection logs (the HTTP endpoint, the demo data and
the tests all call it). The rules are those of shared/spec/write-api.md section 1:

* agent-type events merge on (connection_id, workspace, agent_name): a connect creates the
  row or changes nothing; a disconnect fills disconnect time, reason and exit code where they
  are still empty, or creates a closed row whose connect and disconnect times are equal;
* web-type events are never merged: each is a new row;
* a batch is validated whole, then written in one transaction, race-free on PostgreSQL.

A batch of 1,000 is the unit the hot path is shaped for: plainly good events are read in
one pass (``_read_good_event``, the full reader decides everything else), rows are plain
``_Row`` objects, and the reads and writes go through a store: ``_OrmStore`` on any database,
``_PostgresStore`` (array parameters, COPY into a staging table) on PostgreSQL, a handful
of statements per batch whatever its size.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import operator
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction

from connlogs import pgtypes, transient, values
from connlogs.models import (
    AGENT_TYPES,
    CONNECTION_KEY,
    CONNECTION_LOG_COLUMNS,
    WEB_TYPES,
    ConnectionLog,
    ConnectionType,
    User,
    Workspace,
)
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
# ``ConnectionType.values`` builds a new list on every call (3 µs, once per event).
_TYPE_VALUES = frozenset(ConnectionType.values)
_WEB_TYPE_VALUES = frozenset(str(kind) for kind in WEB_TYPES)
_AGENT_TYPE_VALUES = frozenset(str(kind) for kind in AGENT_TYPES)
_TYPE_ERROR = "Must be one of " + ", ".join(ConnectionType.values) + "."
# Reporters send the same workspace ids and addresses over and over; both parsers are pure
# (a bad value raises, and an exception is never cached).
_parse_uuid = functools.lru_cache(maxsize=8192)(values.parse_uuid)
# Plain IPv6 text (hex digits and colons): what agents on tailnets report.
_PLAIN_IPV6 = re.compile(r"[0-9A-Fa-f:]{2,39}")


@functools.lru_cache(maxsize=8192)
def _normalize_ip(text: str) -> str | None:
    """``values.normalize_ip``, with plain IPv6 text parsed by the C library.

    ``ipaddress`` takes 6 µs for an IPv6 address, ``inet_pton``/``inet_ntop`` 0.3 µs. For
    hex-and-colon text both accept the same addresses and write them the same way
    (tests/test_ingest_speed_paths.py compares them); the C library writes an IPv4-mapped
    address with a dotted tail, so those, anything else and every error are left to
    ``values.normalize_ip``.
    """
    if _PLAIN_IPV6.fullmatch(text):
        try:
            shown = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
        except OSError:
            shown = ""
        if shown and "." not in shown:
            return shown
    return values.normalize_ip(text)


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
            return _parse_uuid(text)
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
    if kind and kind not in _TYPE_VALUES:
        reader.error("type", _TYPE_ERROR)
    workspace_id = reader.uuid("workspace_id", required=True)
    agent_name = reader.text("agent_name", required=True, max_length=MAX_AGENT_NAME)
    ip = None
    ip_text = reader.text("ip")
    if ip_text:
        try:
            ip = _normalize_ip(ip_text)
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


def _canonical_uuid(value: Any) -> uuid.UUID | None:
    """A UUID sent in canonical form, else None (other forms go to the full reader)."""
    if type(value) is not str or len(value) != 36:
        return None
    try:
        return _parse_uuid(value)
    except ValueError:
        return None


def _plain_text(value: Any, max_length: int = MAX_TEXT) -> str | None:
    """Optional text as ``_EventReader.text`` returns it when it finds nothing wrong, else None."""
    if value is None or value == "":
        return ""
    if type(value) is not str or len(value) > max_length or not _storable(value):
        return None
    return value


def _read_good_event(raw: Any) -> Event | None:
    """The event ``_read_event`` would return for ``raw`` when it is plainly good, else None.

    What reporters send is nearly always well-formed: this checks it in one pass, with the
    same rules, and gives up (None) at anything unusual: a wrong type or value, an unknown
    or inapplicable key (even one set to null), a non-canonical UUID. The full reader then
    decides, with its exact messages; so this can only make a good event cheaper, never
    accept or refuse differently.
    """
    if type(raw) is not dict:
        return None
    action, kind = raw.get("action"), raw.get("type")
    if type(kind) is not str or action not in (CONNECT, DISCONNECT):
        return None
    is_web = kind in _WEB_TYPE_VALUES
    if is_web:
        if action != CONNECT or not raw.keys() <= _WEB_FIELDS:
            return None
    elif kind in _AGENT_TYPE_VALUES:
        allowed = _AGENT_FIELDS if action == DISCONNECT else _AGENT_CONNECT_FIELDS
        if not raw.keys() <= allowed:
            return None
    else:
        return None
    time_text = raw.get("time")
    if type(time_text) is not str:
        return None
    try:
        time = values.parse_rfc3339(time_text)  # its pattern admits only short ASCII text
    except ValueError:
        return None
    workspace_id = _canonical_uuid(raw.get("workspace_id"))
    agent_name = raw.get("agent_name")
    if (
        workspace_id is None
        or type(agent_name) is not str
        or not 0 < len(agent_name) <= MAX_AGENT_NAME
        or not _storable(agent_name)
    ):
        return None
    ip = None
    ip_text = _plain_text(raw.get("ip"))
    if ip_text is None:
        return None
    if ip_text:
        try:
            ip = _normalize_ip(ip_text)
        except ValueError:
            return None
    if is_web:
        user_id = raw.get("user_id")
        if user_id is not None and user_id != "":
            user_id = _canonical_uuid(user_id)
            if user_id is None:
                return None
        else:
            user_id = None
        user_agent = _plain_text(raw.get("user_agent"))
        slug_or_port = _plain_text(raw.get("slug_or_port"), 256)
        status_code = raw.get("status_code")
        if status_code is None:
            status_code = 200
        elif type(status_code) is not int or not 100 <= status_code <= 599:
            return None
        if user_agent is None or slug_or_port is None:
            return None
        return Event(
            action=action,
            time=time,
            type=kind,
            workspace_id=workspace_id,
            agent_name=agent_name,
            ip=ip,
            user_id=user_id,
            user_agent=user_agent,
            slug_or_port=slug_or_port,
            status_code=status_code,
        )
    connection_id = _canonical_uuid(raw.get("connection_id"))
    reason = _plain_text(raw.get("reason"))
    exit_code = raw.get("exit_code")
    if connection_id is None or reason is None:
        return None
    if exit_code is not None and (
        type(exit_code) is not int or not -(2**31) <= exit_code <= 2**31 - 1
    ):
        return None
    return Event(
        action=action,
        time=time,
        type=kind,
        workspace_id=workspace_id,
        agent_name=agent_name,
        ip=ip,
        connection_id=connection_id,
        reason=reason,
        exit_code=exit_code,
    )


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
        event = _read_good_event(raw)
        if event is None:  # not plainly good: the reader names every problem, or accepts it
            event, event_errors = _read_event(raw, index)
            errors.extend(event_errors)
        if event is not None:
            events.append(event)
    if errors:
        raise EventValidationError(errors)
    return events


class WorkspaceRef(NamedTuple):
    """What an event takes from its workspace: the row's organization, owner and name."""

    id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    owner_id: uuid.UUID


def _check_references(events: list[Event]) -> dict[uuid.UUID, WorkspaceRef]:
    """Workspaces (deleted ones too: a late disconnect must not be lost) and users exist."""
    store = _store(router.db_for_write(ConnectionLog))
    workspaces = store.workspaces({event.workspace_id for event in events})
    known_users = store.known_users({event.user_id for event in events if event.user_id})
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

_COLUMNS = CONNECTION_LOG_COLUMNS
_MERGED_FIELDS = ["disconnect_time", "disconnect_reason", "code"]
# What merging reads of an existing row: its key and the fields a disconnect may fill.
_LOCKED_FIELDS = ["id", "connection_id", "workspace_id", "agent_name", *_MERGED_FIELDS]


class _Row:
    """A log row being merged: plain attributes named like ``ConnectionLog``'s fields.

    Building model instances was a third of a batch's Python time; rows are written from
    these (``_column_values``), and an existing row carries only ``_LOCKED_FIELDS``.
    """

    __slots__ = _COLUMNS

    @classmethod
    def existing(cls, values_: tuple) -> _Row:
        """A row as ``lock`` reads it: ``_LOCKED_FIELDS`` in order."""
        row = cls()
        (
            row.id,
            row.connection_id,
            row.workspace_id,
            row.agent_name,
            row.disconnect_time,
            row.disconnect_reason,
            row.code,
        ) = values_
        return row

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID, str]:
        return (self.connection_id, self.workspace_id, self.agent_name)


_column_values = operator.attrgetter(*_COLUMNS)
_merged_values = operator.attrgetter("id", *_MERGED_FIELDS)


def _new_row(event: Event, workspace: WorkspaceRef) -> _Row:
    is_disconnect = event.action == DISCONNECT
    row = _Row()
    row.id = uuid.uuid4()
    row.connect_time = event.time
    row.organization_id = workspace.organization_id
    row.workspace_owner_id = workspace.owner_id
    row.workspace_id = workspace.id
    row.workspace_name = workspace.name
    row.agent_name = event.agent_name
    row.ip = event.ip
    row.type = event.type
    row.code = event.status_code if event.type in _WEB_TYPE_VALUES else event.exit_code
    row.user_agent = event.user_agent
    row.user_id = event.user_id
    row.slug_or_port = event.slug_or_port
    row.connection_id = event.connection_id
    row.disconnect_time = event.time if is_disconnect else None
    row.disconnect_reason = event.reason if is_disconnect else ""
    return row


def _apply_disconnect(row: _Row, event: Event) -> bool:
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
    row: _Row | None, events: list[Event], workspace: WorkspaceRef, tally: _Tally
) -> tuple[_Row, bool]:
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


class _OrmStore:
    """Reads, locks and writes log rows through the ORM (SQLite, and any other database).

    A fixed lock order (connection, workspace, agent) keeps two batches that share
    connections from deadlocking; new rows are inserted in the same order.
    """

    def __init__(self, alias: str):
        self.alias = alias
        self.connection = connections[alias]

    def workspaces(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, WorkspaceRef]:
        found = Workspace.objects.filter(id__in=ids).values_list(*WorkspaceRef._fields)
        return {ref.id: ref for ref in map(WorkspaceRef._make, found)}

    def known_users(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        return set(User.objects.filter(id__in=ids).values_list("id", flat=True))

    def lock(self, keys: set[tuple]) -> dict[tuple, _Row]:
        rows = (
            ConnectionLog.objects.using(self.alias)
            .select_for_update()
            .filter(connection_id__in={key[0] for key in keys})
            .order_by(*CONNECTION_KEY)
            .values_list(*_LOCKED_FIELDS)
        )
        return _wanted(rows, keys)

    def insert(self, web_rows: list[_Row], new_rows: list[_Row]) -> set[uuid.UUID]:
        """Write the rows; the ids of ``new_rows`` that were inserted (not lost to a race)."""
        objects = ConnectionLog.objects.using(self.alias)
        if web_rows:
            objects.bulk_create(map(_instance, web_rows), batch_size=500)
        if not new_rows:
            return set()
        new_rows = sorted(new_rows, key=_insert_order)
        objects.bulk_create(map(_instance, new_rows), batch_size=500, ignore_conflicts=True)
        return set(objects.filter(id__in=[row.id for row in new_rows]).values_list("id", flat=True))

    def update(self, rows: list[_Row]) -> None:
        """Store the merged disconnect fields: one UPDATE ... FROM (VALUES ...) per 500 rows.

        ``bulk_update`` builds a CASE WHEN per row and field (1,300 expressions for a batch
        with 440 disconnects); this sends the same values as plain parameters. UPDATE ... FROM
        works on PostgreSQL and SQLite >= 3.33. On PostgreSQL the casts give the VALUES
        columns their types (a column of NULLs would otherwise be text); SQLite needs none
        (and would read a "datetime" cast as a number).
        """
        connection = self.connection
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


def _wanted(rows: Iterable[tuple], keys: set[tuple]) -> dict[tuple, _Row]:
    """The locked rows whose whole key is one of ``keys`` (the lock is by connection id)."""
    found = {}
    for values_ in rows:
        row = _Row.existing(values_)
        if row.key in keys:
            found[row.key] = row
    return found


def _instance(row: _Row) -> ConnectionLog:
    return ConnectionLog(**dict(zip(_COLUMNS, _column_values(row), strict=True)))


def _uuid_array(ids: Iterable[uuid.UUID]) -> str:
    """A ``uuid[]`` literal: one parameter, where psycopg would quote an ``IN`` list or a
    list parameter element by element in Python (1,000 ids: ~2 ms a query)."""
    return "{" + ",".join(map(str, ids)) + "}"


class _PostgresStore(_OrmStore):
    """The same reads and writes in a few statements that carry a whole batch.

    * reads and the lock: ``= ANY('{...}'::uuid[])``, one parameter instead of an ``IN``
      list of up to 1,000;
    * insert: the rows are COPYed into a session-local staging table (formatted by psycopg
      in C; a multi-row INSERT quoted 16,000 parameters in Python), then moved with one
      ``INSERT ... SELECT ... ORDER BY key ON CONFLICT DO NOTHING RETURNING id``, whose
      answer says which rows a concurrent writer's insert won, without another query;
    * update: the merged values are COPYed the same way and applied by one
      ``UPDATE ... FROM``.

    The staging table is ``ON COMMIT DELETE ROWS`` and emptied by the statement that reads
    it (``DELETE ... RETURNING``), so no row outlives its statement, savepoint or batch.
    It is created (once per database session) from the log table's columns without their
    NOT NULL constraints, so merged values alone fit in it too.
    """

    STAGING = "connlogs_event_rows"

    def __init__(self, alias: str):
        super().__init__(alias)
        meta, quote = ConnectionLog._meta, self.connection.ops.quote_name
        self.table = quote(meta.db_table)
        self.columns = ", ".join(quote(meta.get_field(name).column) for name in _COLUMNS)
        self.key_order = ", ".join(quote(n) for n in CONNECTION_KEY)
        self.staged = False
        self.loaders = pgtypes.c_loaders()

    def _read(self, sql: str, params: list) -> list[tuple]:
        with self.connection.cursor() as cursor:
            pgtypes.use_loaders(cursor, self.loaders)
            cursor.execute(sql, params)
            return cursor.fetchall()

    def workspaces(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, WorkspaceRef]:
        meta, quote = Workspace._meta, self.connection.ops.quote_name
        columns = ", ".join(quote(meta.get_field(name).column) for name in WorkspaceRef._fields)
        found = self._read(
            f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote('id')} = ANY(%s::uuid[])",
            [_uuid_array(ids)],
        )
        return {ref.id: ref for ref in map(WorkspaceRef._make, found)}

    def known_users(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        quote = self.connection.ops.quote_name
        found = self._read(
            f"SELECT {quote('id')} FROM {quote(User._meta.db_table)} "
            f"WHERE {quote('id')} = ANY(%s::uuid[])",
            [_uuid_array(ids)],
        )
        return {values_[0] for values_ in found}

    def lock(self, keys: set[tuple]) -> dict[tuple, _Row]:
        quote = self.connection.ops.quote_name
        rows = self._read(
            f"SELECT {', '.join(map(quote, _LOCKED_FIELDS))} FROM {self.table} "
            f"WHERE {quote('connection_id')} = ANY(%s::uuid[]) "
            f"ORDER BY {self.key_order} FOR UPDATE",
            [_uuid_array({key[0] for key in keys})],
        )
        return _wanted(rows, keys)

    def _stage(self, cursor, columns: str, rows: Iterable[tuple]) -> None:
        if not self.staged:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGING} ON COMMIT DELETE ROWS "
                f"AS SELECT {self.columns} FROM {self.table} WITH NO DATA"
            )
            self.staged = True
        with cursor.copy(f"COPY {self.STAGING} ({columns}) FROM STDIN") as copy:
            for values_ in rows:
                copy.write_row(values_)

    def insert(self, web_rows: list[_Row], new_rows: list[_Row]) -> set[uuid.UUID]:
        with self.connection.cursor() as cursor:
            self._stage(cursor, self.columns, map(_column_values, web_rows + new_rows))
            cursor.execute(
                f"WITH staged AS (DELETE FROM {self.STAGING} RETURNING *) "
                f"INSERT INTO {self.table} ({self.columns}) SELECT {self.columns} FROM staged "
                f"ORDER BY {self.key_order} ON CONFLICT DO NOTHING RETURNING id"
            )
            inserted = {values_[0] for values_ in cursor.fetchall()}
        # Web rows never merge, so none can lose to another writer; a random id that is
        # taken already fails as the ORM's plain insert would.
        if web_rows and not {row.id for row in web_rows} <= inserted:
            raise IntegrityError("duplicate connection log id")
        return inserted

    def update(self, rows: list[_Row]) -> None:
        quote = self.connection.ops.quote_name
        names = ["id", *_MERGED_FIELDS]
        assignments = ", ".join(f"{quote(name)} = merged.{quote(name)}" for name in _MERGED_FIELDS)
        with self.connection.cursor() as cursor:
            self._stage(cursor, ", ".join(map(quote, names)), map(_merged_values, rows))
            cursor.execute(
                f"WITH merged AS (DELETE FROM {self.STAGING} RETURNING {', '.join(names)}) "
                f"UPDATE {self.table} SET {assignments} FROM merged "
                f"WHERE {self.table}.id = merged.id"
            )


def _insert_order(row: _Row) -> tuple[str, str, str]:
    return (str(row.connection_id), str(row.workspace_id), row.agent_name)


def _store(alias: str) -> _OrmStore:
    if connections[alias].vendor == "postgresql":
        return _PostgresStore(alias)
    return _OrmStore(alias)


# --- the audit log: one JSON line per recorded event, for a SIEM ------------------------

audit_log = logging.getLogger("connlogs.events.audit")


def audit_entry(event: Event, workspace: WorkspaceRef) -> dict[str, Any]:
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


def _log_after_commit(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> None:
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


def apply_events(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> RecordResult:
    """Apply validated events in one transaction, run again (``transient.retried``) when
    PostgreSQL aborts it for a deadlock with another batch (one locks a row the other is
    about to insert): the batch is all-or-nothing."""
    return transient.retried(lambda: _apply(events, workspaces))


def _apply(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> RecordResult:
    tally = _Tally()
    web_rows = []
    by_connection: dict[tuple, list[Event]] = {}
    for event in events:
        if event.type in _WEB_TYPE_VALUES:
            web_rows.append(_new_row(event, workspaces[event.workspace_id]))
            tally.created += 1
        else:
            by_connection.setdefault(event.key, []).append(event)

    alias = router.db_for_write(ConnectionLog)
    with transaction.atomic(using=alias):
        store = _store(alias)
        existing = store.lock(set(by_connection)) if by_connection else {}
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

        # The store inserts them in key order, the order of the lock, which keeps two
        # batches that share connections from deadlocking on each other's new rows.
        # Another writer may insert the same connection between our read and this insert;
        # ON CONFLICT DO NOTHING waits for it, and we merge into its row instead.
        inserted = store.insert(web_rows, new_rows) if web_rows or new_rows else set()
        lost = {row.key for row in new_rows if row.id not in inserted}
        raced = store.lock(lost) if lost else {}
        for row in new_rows:
            key = row.key
            if row.id in inserted:
                sub_tally = new_row_tallies[key]
                tally.created += sub_tally.created
                tally.updated += sub_tally.updated
                tally.unchanged += sub_tally.unchanged
            else:
                merged, changed = _fold(raced[key], by_connection[key], workspaces[key[1]], tally)
                if changed:
                    changed_rows.append(merged)

        if changed_rows:
            store.update(changed_rows)
        _log_after_commit(events, workspaces)

    return RecordResult(tally.created, tally.updated, tally.unchanged)
