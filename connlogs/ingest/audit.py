"""The audit log: one JSON line per recorded event, for a SIEM (``CONNLOGS_EVENT_LOG``).

The logger's name, ``connlogs.events.audit``, is what deployments configure (settings'
``LOGGING``, README): it stays as it was when this code lived in ``connlogs.events``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from connlogs import values
from connlogs.ingest.rows import WorkspaceRef
from connlogs.ingest.schema import Event

audit_log = logging.getLogger("connlogs.events.audit")

# JSON escapes every control character below U+0020 but, with ``ensure_ascii=False``, leaves
# these line boundaries raw, and a shipper that splits on Unicode line boundaries (Python's
# ``str.splitlines``, many log agents) would cut one record in two. Escaped, they read back
# the same.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def audit_entry(event: Event, workspace: WorkspaceRef) -> dict[str, Any]:
    """The audit record of one event: what was reported plus where it belongs.

    Empty fields are left out; ``truncated`` lists the fields cut to their limit.
    """
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
        "truncated": sorted(event.truncated) or None,
    }
    return {key: value for key, value in entry.items() if value is not None}


def audit_line(entry: dict[str, Any]) -> str:
    """One record as one line of JSON, whatever line boundaries its text holds."""
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    return line.translate(_LINE_BREAKS)


def log_after_commit(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> None:
    """Queue the audit lines of a batch; they are written only if its transaction commits."""
    if not settings.CONNLOGS_EVENT_LOG:
        return

    def write() -> None:
        for event in events:
            entry = audit_entry(event, workspaces[event.workspace_id])
            audit_log.info(audit_line(entry))

    transaction.on_commit(write)
