"""Connection events in, connection-log rows out.

``record_events`` is the only writer of connection logs (the HTTP endpoint, the demo data,
the tests and the benchmarks all call it). One job per module:

* ``schema``: what an event is (its shapes, fields, limits, normalisation), declared once;
* ``validation``: a batch checked against the schema, every error in the contract's words;
* ``merge``: the merging rules, the transaction and its deadlock retry;
* ``rows`` and ``stores``: the rows being merged, and how they are read, locked and written
  (the ORM anywhere, COPY staging on PostgreSQL);
* ``audit``: the JSON line per recorded event.
"""

from connlogs.ingest.audit import audit_entry, audit_log
from connlogs.ingest.merge import (
    RecordResult,
    apply_events,
    check_references,
    record_events,
)
from connlogs.ingest.rows import WorkspaceRef
from connlogs.ingest.schema import (
    CONNECT,
    DISCONNECT,
    MAX_AGENT_NAME,
    MAX_SLUG_OR_PORT,
    MAX_TEXT,
    AgentConnect,
    AgentDisconnect,
    Event,
    WebConnect,
)
from connlogs.ingest.validation import EventValidationError, ValidatedBatch, validate_events

__all__ = [
    "CONNECT",
    "DISCONNECT",
    "MAX_AGENT_NAME",
    "MAX_SLUG_OR_PORT",
    "MAX_TEXT",
    "AgentConnect",
    "AgentDisconnect",
    "Event",
    "EventValidationError",
    "RecordResult",
    "ValidatedBatch",
    "WebConnect",
    "WorkspaceRef",
    "apply_events",
    "audit_entry",
    "audit_log",
    "check_references",
    "record_events",
    "validate_events",
]
