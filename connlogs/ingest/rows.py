"""A log row while a batch is merged: what it takes from its workspace, its columns, its order.

Building model instances was a third of a batch's Python time, so the merge rules work on
plain ``Row`` objects, written by the stores from ``column_values``.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable
from typing import NamedTuple

from connlogs.ingest.schema import DISCONNECT, Event
from connlogs.models import CONNECTION_KEY, CONNECTION_LOG_COLUMNS
from connlogs.storage import ids

# Every column: those the bulk writers set, and the truncation marker (which they leave to
# its database default).
COLUMNS = (*CONNECTION_LOG_COLUMNS, "truncated_fields")
# What a disconnect may fill in a row that exists.
MERGED_FIELDS = ["disconnect_time", "disconnect_reason", "code", "truncated_fields"]
# What merging reads of an existing row: its id and time (which name it, and its partition on
# PostgreSQL), its key and the fields a disconnect may fill.
LOCKED_FIELDS = ["id", "connect_time", *CONNECTION_KEY, *MERGED_FIELDS]


class WorkspaceRef(NamedTuple):
    """What an event takes from its workspace: the row's organization, owner and name."""

    id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    owner_id: uuid.UUID


class Row:
    """A log row being merged: plain attributes named like ``ConnectionLog``'s fields.

    An existing row carries only ``LOCKED_FIELDS``.
    """

    __slots__ = COLUMNS

    @classmethod
    def existing(cls, values_: tuple) -> Row:
        """A row as a store's ``lock`` reads it: ``LOCKED_FIELDS`` in order."""
        row = cls()
        (
            row.id,
            row.connect_time,
            row.connection_id,
            row.workspace_id,
            row.agent_name,
            row.disconnect_time,
            row.disconnect_reason,
            row.code,
            row.truncated_fields,
        ) = values_
        return row

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID, str]:
        return (self.connection_id, self.workspace_id, self.agent_name)


column_values = operator.attrgetter(*COLUMNS)
# What a disconnect writes to a row that exists: where the row is, and its merged fields.
MERGED_COLUMNS = ["id", "connect_time", *MERGED_FIELDS]
merged_values = operator.attrgetter(*MERGED_COLUMNS)


def new_row(event: Event, workspace: WorkspaceRef) -> Row:
    """The row an event creates: a web request, a connect, or a disconnect seen first
    (connect and disconnect times both the event's)."""
    is_disconnect = event.action == DISCONNECT
    row = Row()
    row.id = ids.new_id(event.time)
    row.connect_time = event.time
    row.organization_id = workspace.organization_id
    row.workspace_owner_id = workspace.owner_id
    row.workspace_id = workspace.id
    row.workspace_name = workspace.name
    row.agent_name = event.agent_name
    row.ip = event.ip
    row.type = event.type
    row.code = event.status_code if event.is_web else event.exit_code
    row.user_agent = event.user_agent
    row.user_id = event.user_id
    row.slug_or_port = event.slug_or_port
    row.connection_id = event.connection_id
    row.disconnect_time = event.time if is_disconnect else None
    row.disconnect_reason = event.reason if is_disconnect else ""
    row.truncated_fields = marker(event.truncated) if event.truncated else ""
    return row


# The event's field names as the row's (``ConnectionLog.truncated_fields`` holds these).
_COLUMN_OF = {"reason": "disconnect_reason"}


def marker(cut: Iterable[str], row_marker: str = "") -> str:
    """``truncated_fields`` of a row whose ``row_marker`` gains the event fields ``cut``."""
    names = {name for name in row_marker.split(",") if name}
    names.update(_COLUMN_OF.get(name, name) for name in cut)
    return ",".join(sorted(names))


def insert_order(row: Row) -> tuple[str, str, str]:
    """The order rows are locked and inserted in (connection, workspace, agent)."""
    return (str(row.connection_id), str(row.workspace_id), row.agent_name)
