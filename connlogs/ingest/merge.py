"""The merging rules: how validated events become log rows (write-api.md section 1, the
rules Coder applies).

* agent-type events merge on (connection_id, workspace, agent_name): a connect creates the
  row or changes nothing; a disconnect fills disconnect time, reason and exit code where
  they are still empty, or creates a closed row whose connect and disconnect times are
  equal; a second disconnect changes nothing;
* web-type events are never merged: each is a new row;
* a batch is written in one transaction, race-free on PostgreSQL, and retried whole when
  PostgreSQL aborts it for a deadlock with another batch.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import router, transaction

from connlogs import feed, transient
from connlogs.ingest import stores
from connlogs.ingest.audit import log_after_commit
from connlogs.ingest.rows import Row, WorkspaceRef, marker, new_row
from connlogs.ingest.schema import DISCONNECT, Event
from connlogs.ingest.validation import EventValidationError, validate_events
from connlogs.models import ConnectionLog
from connlogs.search import Validation


@dataclass(frozen=True)
class RecordResult:
    """What a batch did: events that created a row, filled one, or changed nothing."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Cosmetic fields that were recorded otherwise than sent (``events[i].field``).
    warnings: tuple[Validation, ...] = ()

    def as_dict(self) -> dict:
        """The API's answer: the counts, and ``warnings`` only when there are any."""
        answer: dict = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }
        if self.warnings:
            answer["warnings"] = [warning.as_dict() for warning in self.warnings]
        return answer


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: _Tally) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


def record_events(raw_events: Any, *, max_events: int = 1000) -> RecordResult:
    """Validate a batch (the decoded ``"events"`` list) and apply it in one transaction.

    The only writer of connection logs. A cosmetic field that could not be kept as sent (an
    address that is none, text over its limit) does not refuse the batch: the result's
    ``warnings`` name it. Raises ``EventValidationError`` naming every bad
    field (``events[i].field``), unknown workspaces and users included; then nothing is
    written.
    """
    batch = validate_events(raw_events, max_events=max_events)
    workspaces = check_references(batch.events)
    result = apply_events(batch.events, workspaces)
    return dataclasses.replace(result, warnings=tuple(batch.warnings))


def check_references(events: list[Event]) -> dict[uuid.UUID, WorkspaceRef]:
    """The events' workspaces by id (deleted ones too: a late disconnect must not be lost);
    ``EventValidationError`` for a workspace or user that does not exist."""
    store = stores.store(router.db_for_write(ConnectionLog))
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


def apply_events(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> RecordResult:
    """Apply validated events in one transaction, run again (``transient.retried``) when
    PostgreSQL aborts it for a deadlock with another batch (one locks a row the other is
    about to insert) or a serialization failure: the batch is all-or-nothing."""
    return transient.retried(lambda: _apply(events, workspaces))


def _apply(events: list[Event], workspaces: Mapping[uuid.UUID, WorkspaceRef]) -> RecordResult:
    tally = _Tally()
    web_rows = []
    by_connection: dict[tuple, list[Event]] = {}
    for event in events:
        if event.is_web:
            web_rows.append(new_row(event, workspaces[event.workspace_id]))
            tally.created += 1
        else:
            by_connection.setdefault(event.key, []).append(event)

    alias = router.db_for_write(ConnectionLog)
    with transaction.atomic(using=alias):
        store = stores.store(alias)
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
                tally.add(new_row_tallies[key])
            else:
                merged, changed = _fold(raced[key], by_connection[key], workspaces[key[1]], tally)
                if changed:
                    changed_rows.append(merged)

        if changed_rows:
            store.update(changed_rows)
        # Last: the change feed numbers its entries in commit order (connlogs.feed.writing).
        feed.record(
            alias,
            created=[row.id for row in web_rows]
            + [row.id for row in new_rows if row.id in inserted],
            updated=[row.id for row in changed_rows],
        )
        log_after_commit(events, workspaces)

    return RecordResult(tally.created, tally.updated, tally.unchanged)


def _fold(
    row: Row | None, events: list[Event], workspace: WorkspaceRef, tally: _Tally
) -> tuple[Row, bool]:
    """Apply one connection's events in order; returns the row and whether it changed."""
    changed = False
    for event in events:
        if row is None:
            row = new_row(event, workspace)
            tally.created += 1
        elif event.action == DISCONNECT and _apply_disconnect(row, event):
            tally.updated += 1
            changed = True
        else:
            tally.unchanged += 1
    return row, changed


def _apply_disconnect(row: Row, event: Event) -> bool:
    """Fill what is still empty; True when the row changed."""
    changed = False
    if row.disconnect_time is None:
        row.disconnect_time = event.time
        changed = True
    if not row.disconnect_reason and event.reason:
        row.disconnect_reason = event.reason
        if "reason" in event.truncated:
            row.truncated_fields = marker(["reason"], row.truncated_fields)
        changed = True
    if row.code is None and event.exit_code is not None:
        row.code = event.exit_code
        changed = True
    return changed
